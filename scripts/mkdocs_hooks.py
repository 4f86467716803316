"""MkDocs hooks: the Changelog page is CHANGELOG.md, its ``docs/`` links made relative to docs/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = '--8<-- "CHANGELOG.md"'


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Put CHANGELOG.md where the changelog page names it, its links fixed for the site."""
    if MARKER not in markdown:
        return markdown
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    body = changelog.split("\n", 1)[1]  # the page has its own title
    body = body.replace("](docs/", "](").replace("](README.md", "](index.md")
    return markdown.replace(MARKER, body)
