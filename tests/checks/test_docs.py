"""The README and CHANGELOG stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from regstack_django.checks import messages
from regstack_django.conf import SETTINGS
from regstack_django.events import EVENT_ARGUMENTS, KNOWN_EVENTS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _event_rows() -> dict[str, str]:
    rows = {}
    for line in README.splitlines():
        match = re.match(r"^\| `(\w+)` \|(.*)$", line)
        if match and match.group(1) in KNOWN_EVENTS:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_event_table_lists_all_twenty_events() -> None:
    assert set(_event_rows()) == KNOWN_EVENTS


@pytest.mark.parametrize("event", sorted(KNOWN_EVENTS))
def test_each_event_row_names_its_arguments(event: str) -> None:
    arguments_column = _event_rows()[event].split("|")[0]
    required, optional = EVENT_ARGUMENTS[event]
    for argument in (*required, *optional):
        assert f"`{argument}`" in arguments_column, f"{event}: {argument}"


def test_the_typed_payloads_match_the_documented_arguments() -> None:
    payloads = pytest.importorskip("regstack_django.payloads")
    for event, typed in payloads.EVENT_KWARGS.items():
        required, optional = EVENT_ARGUMENTS[event]
        assert set(typed.__annotations__) - {"signal"} == {*required, *optional}, event


@pytest.mark.parametrize("check_id", sorted(messages.ALL_IDS))
def test_every_check_id_is_documented(check_id: str) -> None:
    assert f"| `{check_id}` |" in README


def test_the_check_table_has_one_row_per_id() -> None:
    table = re.findall(r"^\| `(regstack_django\.[EW]\d{3})` \|", README, re.MULTILINE)
    assert sorted(table) == sorted(messages.ALL_IDS)


def test_no_undocumented_check_id_is_mentioned() -> None:
    mentioned = set(re.findall(r"regstack_django\.[EW]\d{3}", README))
    assert mentioned == set(messages.ALL_IDS)


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_has_a_reference_heading(setting: str) -> None:
    assert f"\n### `{setting}`\n" in README


def test_every_setting_the_code_reads_is_in_conf() -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "regstack_django").rglob("*.py")
    )
    read = set(re.findall(r"\bREGSTACK(?:_[A-Z]+)*\b", source))
    assert read == set(SETTINGS)


def test_the_readme_keeps_the_anchors_order() -> None:
    order = [
        "## Requirements",
        "## Installation",
        "## Quick start",
        "## Settings reference",
        "## Events",
        "## Dispatch semantics",
        "## System checks",
        "## Changelog",
    ]
    positions = [README.index(f"\n{heading}\n") for heading in order]
    assert positions == sorted(positions)


def test_the_changelog_starts_with_unreleased() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.search(r"^## (.+)$", changelog, re.MULTILINE)
    assert first is not None
    assert first.group(1) == "Unreleased"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test" in ci
    assert "`bash scripts/test`" in README
    assert "`bash scripts/demo`" in README
