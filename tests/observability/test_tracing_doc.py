"""docs/tracing.md's collector-free example runs and prints the spans it promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "tracing.md"


def test_the_console_example_prints_a_fire_span_and_its_receiver_span(tmp_path: Path) -> None:
    match = re.search(
        r"<!-- tested: tests/observability/test_tracing_doc.py -->\n```python\n(.*?)```",
        DOC.read_text(),
        re.S,
    )
    assert match, "docs/tracing.md lost its example"
    script = tmp_path / "tracing_demo.py"
    script.write_text(match.group(1), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("welcome!\n")
    decoder, text, spans, at = json.JSONDecoder(), done.stdout[len("welcome!\n") :], [], 0
    while text[at:].strip():
        span, end = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
        spans.append(span)
        at = end
    receiver, fire = spans
    assert receiver["name"] == "regstack.receiver __main__.welcome"
    assert fire["name"] == "regstack.fire user_logged_in"
    assert receiver["parent_id"] == fire["context"]["span_id"]
