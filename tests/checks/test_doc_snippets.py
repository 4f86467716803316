"""Every Python block of README.md and docs/ runs, or says why not (``<!-- fragment: ... -->``).

A block runs here (``exec`` under the test settings), or in the test its
``<!-- tested: path -->`` comment names, or, for the README project's files
(``# signups/models.py``...), in ``tests/project/test_readme_project.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^( *)```python[^\n]*\n(.*?)^ *```$", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"^ *<!-- (fragment|tested): ?(.*?) -->$")
_PROJECT_FILE = re.compile(r"# ([\w./]+\.py)(?:, at the end)?")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    mark: str  # "fragment", "tested" or ""
    reason: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def _dedent(text: str, indent: str) -> str:
    return "\n".join(line.removeprefix(indent) for line in text.splitlines()) + "\n"


def python_blocks() -> list[Block]:
    """Every ```python block of the README and the docs, with the comment line before it."""
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rpartition("\n")[2]
            mark = _MARK.match(before)
            blocks.append(
                Block(
                    page=str(page.relative_to(ROOT)),
                    line=text[: match.start()].count("\n") + 1,
                    code=_dedent(match.group(2), match.group(1)),
                    mark=mark.group(1) if mark else "",
                    reason=mark.group(2) if mark else "",
                )
            )
    return blocks


BLOCKS = python_blocks()
RUN_HERE = [b for b in BLOCKS if not b.mark and not _PROJECT_FILE.match(b.code)]


def test_every_block_is_run_or_marked() -> None:
    assert len(BLOCKS) > 15  # the parser still finds them
    project_files = [b for b in BLOCKS if not b.mark and _PROJECT_FILE.match(b.code)]
    assert {b.page for b in project_files} == {"README.md"}, "only the README's project"
    for block in BLOCKS:
        if block.mark:
            assert block.reason, f"{block}: say why ({block.mark}: <why>)"


def test_the_project_files_are_the_ones_the_readme_project_test_builds() -> None:
    from tests.project.test_readme_project import file_blocks

    built = file_blocks()
    for block in BLOCKS:
        found = _PROJECT_FILE.match(block.code)
        if not block.mark and found:
            assert found.group(0).removeprefix("# ") in built, f"{block}: not built"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark == "tested"], ids=str)
def test_a_tested_block_names_a_test_that_reads_its_page(block: Block) -> None:
    test = ROOT / block.reason
    assert test.is_file(), f"{block}: no {block.reason}"
    assert block.page in test.read_text(encoding="utf-8"), f"{block.reason} never reads it"


@pytest.mark.django_db
@pytest.mark.parametrize("block", RUN_HERE, ids=str)
def test_the_block_runs(block: Block) -> None:
    namespace: dict[str, object] = {"__name__": f"doc_snippet_{block.line}"}
    exec(compile(block.code, str(block), "exec"), namespace)
