"""The docs stay true to the code, both ways: settings, check ids, events, commands, public names.

Each test fails when the code gains (or loses) one of them and docs/ does not follow.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import regstack_django
from regstack_django.checks import messages
from regstack_django.conf import SETTINGS
from regstack_django.events import EVENT_ARGUMENTS, KNOWN_EVENTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS_DIR = ROOT / "regstack_django" / "management" / "commands"
#: Subpackages users import names from (their ``__all__`` is public).
PUBLIC_PACKAGES = ("regstack_django.testing", "regstack_django.pool", "regstack_django.background")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def assert_same(
    documented: list[str], in_code: set[str] | frozenset[str] | tuple[str, ...]
) -> None:
    """Fail naming what the code has and the docs lack, and the other way round."""
    code = set(in_code)
    assert not code - set(documented), (
        f"in the code, not in the docs: {sorted(code - set(documented))}"
    )
    assert not set(documented) - code, (
        f"in the docs, not in the code: {sorted(set(documented) - code)}"
    )
    assert len(documented) == len(set(documented)), f"documented twice: {documented}"


def headings(text: str, level: str) -> list[str]:
    """The names of the ``{level} `name``` headings of ``text``, in order."""
    return re.findall(rf"^{level} `([\w.]+)`$", text, re.MULTILINE)


# -- settings --------------------------------------------------------------------------


def test_the_settings_page_has_one_heading_per_setting_and_no_other() -> None:
    assert_same(headings(page("settings.md"), "##"), SETTINGS)


def test_every_setting_the_code_reads_is_in_conf() -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "regstack_django").rglob("*.py")
    )
    read = set(re.findall(r"\bREGSTACK(?:_[A-Z]+)*\b", source))
    assert read == set(SETTINGS)


def test_every_setting_the_docs_name_exists() -> None:
    named = set(re.findall(r"`(REGSTACK(?:_[A-Z]+)*)`", all_docs()))
    # Environment variables (test scripts, the testproject, the deployment guide), not settings.
    environment = ("REGSTACK_TEST_", "REGSTACK_JWT_SECRET", "REGSTACK_DATABASE_URL")
    named = {n for n in named if not n.startswith(environment)}
    assert named - set(SETTINGS) == set(), "documented settings the code does not have"


# -- check ids -------------------------------------------------------------------------


def test_the_check_table_has_one_row_per_id() -> None:
    table = re.findall(r"^\| `(regstack_django\.[EW]\d{3})` \|", page("checks.md"), re.MULTILINE)
    assert_same(table, messages.ALL_IDS)


def test_no_undocumented_check_id_is_mentioned() -> None:
    mentioned = set(re.findall(r"regstack_django\.[EW]\d{3}", all_docs() + README))
    assert mentioned - set(messages.ALL_IDS) == set()


# -- events ----------------------------------------------------------------------------


def _event_rows() -> dict[str, str]:
    rows = {}
    for line in page("events.md").splitlines():
        match = re.match(r"^\| `(\w+)` \|(.*)$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_event_table_lists_the_twenty_events_and_no_other() -> None:
    assert_same(list(_event_rows()), KNOWN_EVENTS)


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


# -- management commands ---------------------------------------------------------------


def test_the_commands_page_has_one_heading_per_command_and_no_other() -> None:
    commands = {p.stem for p in COMMANDS_DIR.glob("*.py") if not p.stem.startswith("_")}
    assert_same(headings(page("commands.md"), "##"), commands)


# -- public names ----------------------------------------------------------------------


def _public_names() -> set[str]:
    names = {f"regstack_django.{name}" for name in regstack_django.__all__}
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        names |= {f"{package}.{name}" for name in module.__all__}
    return names


@pytest.mark.parametrize("name", sorted(_public_names()))
def test_every_public_name_is_in_the_docs(name: str) -> None:
    short = name.rpartition(".")[2]
    text = all_docs()
    assert f"`{name}`" in text or re.search(rf"`[^`\n]*\b{short}\b[^`\n]*`", text), name


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_dotted_name_the_docs_give_exists() -> None:
    text = all_docs() + README
    named = set(re.findall(r"`(regstack_django(?:\.\w+)+)", text))
    ids = {n for n in named if re.fullmatch(r"regstack_django\.[EW]\d{3}", n)}
    models = {"regstack_django.OutboxEvent", "regstack_django.HandlerRun"}  # model labels
    models |= {"regstack_django.RelayHeartbeat", "regstack_django.RegStackIdentity"}
    missing = sorted(n for n in named - ids - models if not _resolves(n))
    assert missing == [], "the docs name these, the code has no such module or attribute"


# -- pages -----------------------------------------------------------------------------


def test_the_architecture_page_lists_every_module() -> None:
    text = page("architecture.md")
    library = ROOT / "regstack_django"
    for path in sorted(library.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        folder = path.parent.relative_to(library).as_posix()
        heading = f"### `regstack_django/{'' if folder == '.' else folder + '/'}`"
        section = text.split(heading, 1)[1].split("\n### ", 1)[0] if heading in text else ""
        assert f"| `{path.name}` |" in section, f"docs/architecture.md lacks {path}"


def test_the_changelog_starts_with_unreleased() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.search(r"^## (.+)$", changelog, re.MULTILINE)
    assert first is not None
    assert first.group(1) == "Unreleased"


def test_the_readme_is_short_and_names_the_two_commands_ci_runs() -> None:
    assert README.count("\n") <= 300
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test" in ci
    assert "`bash scripts/test`" in README
    assert "`bash scripts/demo`" in README


def test_every_nav_page_exists_and_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    enabled = set(re.findall(r"^\s+- (?:[^:#\n]+: )?([\w-]+\.md)$", config, re.MULTILINE))
    enabled |= set(re.findall(r"^  - [^:#\n]+: ([\w-]+\.md)$", config, re.MULTILINE))
    assert enabled == {p.name for p in DOCS.glob("*.md")}
