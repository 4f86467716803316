"""The failure table of docs/background.md, from a run's outcomes (saved and loaded as JSON too)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path

from support.faults.counting import Outcome

START = "<!-- failure-table:start (python -m benchmarks.faults --write-doc) -->"
END = "<!-- failure-table:end -->"
HEADING = "## Failure table"


def save(outcomes: Iterable[Outcome], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([dataclasses.asdict(o) for o in outcomes], indent=1) + "\n")


def load(path: Path) -> list[Outcome]:
    return [Outcome(**fields) for fields in json.loads(path.read_text())]


def _cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return "not run"
    lost = f"**{outcome.lost} lost**" if outcome.lost else "0 lost"
    text = f"{lost}, {outcome.duplicated} dup. of {outcome.accepted:,} ({outcome.trials} trials)"
    if outcome.durable and (outcome.id_mismatches or outcome.missing_ids):
        text += f", **{outcome.id_mismatches + outcome.missing_ids} id errors**"
    return text


def render(outcomes: Iterable[Outcome], header: str = "") -> str:
    """One row per (failure, backend); today's entries and durable ones side by side."""
    cells: dict[tuple[str, str], dict[bool, Outcome]] = {}
    for outcome in outcomes:
        cells.setdefault((outcome.scenario, outcome.backend), {})[outcome.durable] = outcome
    lines = [
        "| failure | backend | today (`background`) | `durable` |",
        "| --- | --- | --- | --- |",
    ]
    for (scenario, backend), by_mode in cells.items():
        lines.append(
            f"| {scenario} | {backend} | {_cell(by_mode.get(False))} | {_cell(by_mode.get(True))} |"
        )
    notes = [
        f"* {scenario}, {backend}, {'durable' if durable else 'today'}: {'; '.join(o.notes)}"
        for (scenario, backend), by_mode in cells.items()
        for durable, o in sorted(by_mode.items())
        if o.notes
    ]
    body = "\n".join(lines)
    if notes:
        body += "\n\nNotes from the run:\n\n" + "\n".join(notes)
    return f"{header}\n\n{body}\n" if header else f"{body}\n"


def write_section(doc: Path, section: str) -> None:
    """Replace the table's section of ``doc`` (or append it under :data:`HEADING`)."""
    text = doc.read_text()
    block = f"{START}\n{section.strip()}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    doc.write_text(text)
