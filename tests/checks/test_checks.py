"""System checks for REGSTACK_HOOKS: call the check directly, then prove it is registered."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from regstack_django.background import tasks_compat
from regstack_django.checks import messages
from regstack_django.checks.registered import check_hooks_setting
from regstack_django.hooks import wiring
from tests.hosting import test_regstack_settings

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def hooks_settings(**overrides: Any) -> Iterator[None]:
    # Applying a bad REGSTACK_HOOKS through override_settings also rewires (setting_changed),
    # which raises ImproperlyConfigured: test_settings_wiring.py covers that. Here only the
    # check is under test, so the rewiring is a no-op for the override's enter AND exit;
    # the connections made from the suite's real settings are left untouched.
    with mock.patch.object(wiring, "connect_settings_handlers"), override_settings(**overrides):
        yield


def problems(value: Any = None, **overrides: Any) -> list[CheckMessage]:
    if value is not None:
        overrides["REGSTACK_HOOKS"] = value
    with hooks_settings(**overrides):
        return list(check_hooks_setting())


def ids(value: Any = None, **overrides: Any) -> list[str]:
    return [p.id for p in problems(value, **overrides)]


#: The suite's TASKS is the Immediate backend, so every valid background entry
#: also gets W006 (tests/background/test_background_checks.py covers it); left out here.
IMMEDIATE_WARNING = messages.W006


def the_problem(value: Any = None, **overrides: Any) -> CheckMessage:
    [found] = [p for p in problems(value, **overrides) if p.id != IMMEDIATE_WARNING]
    assert found.hint
    return found


# -- nothing to report --------------------------------------------------------------------------


def test_no_setting_reports_nothing() -> None:
    with hooks_settings():
        del settings.REGSTACK_HOOKS
        del settings.REGSTACK_HOOKS_RAISE_ERRORS
        assert list(check_hooks_setting()) == []


def test_empty_setting_reports_nothing() -> None:
    assert ids({}) == []


def test_every_kind_of_valid_entry_reports_nothing() -> None:
    value = {
        "user_registered": [
            "tests.hooks.record_sync",
            "tests.hooks.record_with_user",
            "tests.hooks.callable_instance",
            {"handler": "tests.hooks.record_async", "timeout": 2.5},
            {
                "handler": "tests.hooks.record_sync",
                "background": True,
                "on_commit": False,
                "include_secrets": True,
                "queue_name": "default",
                "priority": 10,
                "backend": "default",
            },
        ],
        "user_logged_in": ("tests.hooks.record_sync",),
    }
    assert ids(value) == [IMMEDIATE_WARNING]
    assert ids(value, REGSTACK_HOOKS_RAISE_ERRORS=True) == [IMMEDIATE_WARNING]


def test_custom_event_handler_may_require_arguments_of_its_own() -> None:
    assert ids({"invoice_paid": ["tests.hooks.record_with_user"]}) == [messages.W001]


# -- one id per problem -------------------------------------------------------------------------

ENTRY_CASES = [
    pytest.param(
        messages.E004, "user_registered", "tests.hoks.record_sync", {}, id="E004-no-module"
    ),
    pytest.param(
        messages.E004, "user_registered", "tests.hooks.recrod_sync", {}, id="E004-no-attribute"
    ),
    pytest.param(messages.E005, "user_registered", "tests.hooks.NOT_CALLABLE", {}, id="E005"),
    pytest.param(messages.E006, "user_registered", "tests.hooks.no_kwargs", {}, id="E006-kwargs"),
    pytest.param(
        messages.E006, "user_registered", "tests.hooks.positional_only", {}, id="E006-pos-only"
    ),
    pytest.param(
        messages.E006,
        "verification_requested",
        "tests.hooks.record_with_user",
        {},
        id="E006-param-the-event-lacks",
    ),
    pytest.param(
        messages.E007, "user_registered", "tests.hooks.record_async", {"timout": 1}, id="E007"
    ),
    pytest.param(
        messages.E008, "user_registered", "tests.hooks.record_async", {"timeout": "5"}, id="E008-s"
    ),
    pytest.param(
        messages.E008, "user_registered", "tests.hooks.record_async", {"timeout": True}, id="E008-b"
    ),
    pytest.param(
        messages.E008, "user_registered", "tests.hooks.record_async", {"timeout": -1}, id="E008-n"
    ),
    pytest.param(
        messages.E009,
        "user_registered",
        "tests.hooks.record_async",
        {"on_commit": False},
        id="E009-on-commit-without-background",
    ),
    pytest.param(
        messages.E009,
        "user_registered",
        "tests.hooks.record_async",
        {"background": True, "timeout": 1},
        id="E009-timeout-on-background",
    ),
    pytest.param(
        messages.E008,
        "user_registered",
        "tests.hooks.record_sync",
        {"must_run": "yes", "timeout": 1},
        id="E008-must-run",
    ),
    pytest.param(
        messages.E009,
        "user_registered",
        "tests.hooks.record_sync",
        {"must_run": True},
        id="E009-must-run-without-timeout",
    ),
    pytest.param(
        messages.E009,
        "user_registered",
        "tests.hooks.record_async",
        {"must_run": True, "timeout": 1},
        id="E009-must-run-on-async",
    ),
    pytest.param(
        messages.E009,
        "user_registered",
        "tests.hooks.record_sync",
        {"must_run": True, "background": True},
        id="E009-must-run-on-background",
    ),
    pytest.param(
        messages.E011,
        "user_registered",
        "tests.hooks.record_async",
        {"background": True, "backend": "nope"},
        id="E011",
    ),
]


@pytest.mark.parametrize(("code", "event", "path", "options"), ENTRY_CASES)
def test_bad_entry_reports_its_id_naming_setting_event_and_path(
    code: str, event: str, path: str, options: dict[str, Any]
) -> None:
    entry = {"handler": path, **options} if options else path
    found = the_problem({event: [entry]})
    assert found.id == code
    assert f"REGSTACK_HOOKS[{event!r}][0]" in found.msg
    assert repr(path) in found.msg


def test_unknown_option_suggests_the_right_one() -> None:
    found = the_problem({"user_registered": [{"handler": "tests.hooks.record_async", "timout": 1}]})
    assert "did you mean 'timeout'" in found.msg
    assert "timeout" in found.hint


def test_unknown_backend_hint_lists_the_configured_aliases() -> None:
    entry = {"handler": "tests.hooks.record_async", "background": True, "backend": "nope"}
    tasks = {
        "default": settings.TASKS["default"],
        "emails": settings.TASKS["default"],
    }
    found = the_problem({"user_registered": [entry]}, TASKS=tasks)
    assert found.id == messages.E011
    assert "'nope'" in found.msg
    assert "'default'" in found.hint
    assert "'emails'" in found.hint


def test_background_without_a_tasks_framework_is_E010(monkeypatch: pytest.MonkeyPatch) -> None:
    # tasks_module is functools.cache'd: replace the function that background_problems calls.
    monkeypatch.setattr(tasks_compat, "tasks_module", lambda: None)
    entry = {"handler": "tests.hooks.record_async", "background": True}
    found = the_problem({"user_registered": [entry]})
    assert found.id == messages.E010
    assert "REGSTACK_HOOKS['user_registered'][0]" in found.msg
    assert "'tests.hooks.record_async'" in found.msg


def test_background_with_a_tasks_framework_is_fine() -> None:
    assert tasks_compat.tasks_module() is not None
    entry = {"handler": "tests.hooks.record_async", "background": True}
    assert ids({"user_registered": [entry]}) == [IMMEDIATE_WARNING]


def test_setting_that_is_not_a_dict_is_E001() -> None:
    found = the_problem(["x"])
    assert found.id == messages.E001
    assert "REGSTACK_HOOKS" in found.msg
    assert "'x'" in found.msg


def test_event_key_that_is_not_a_name_is_E001() -> None:
    found = the_problem({3: ["tests.hooks.record_sync"]})
    assert found.id == messages.E001
    assert "REGSTACK_HOOKS" in found.msg


def test_event_value_that_is_not_a_list_is_E002() -> None:
    found = the_problem({"user_registered": "tests.hooks.record_sync"})
    assert found.id == messages.E002
    assert "REGSTACK_HOOKS['user_registered']" in found.msg
    assert "'tests.hooks.record_sync'" in found.msg


@pytest.mark.parametrize("entry", [42, {"timeout": 1}], ids=["int", "dict-without-handler"])
def test_entry_that_is_neither_path_nor_handler_dict_is_E003(entry: object) -> None:
    found = the_problem({"user_registered": [entry]})
    assert found.id == messages.E003
    assert "REGSTACK_HOOKS['user_registered'][0]" in found.msg
    assert repr(entry) in found.msg


def test_raise_errors_setting_that_is_not_a_bool_is_E012() -> None:
    found = the_problem(REGSTACK_HOOKS_RAISE_ERRORS="yes")
    assert found.id == messages.E012
    assert "REGSTACK_HOOKS_RAISE_ERRORS" in found.msg
    assert "'yes'" in found.msg


def test_typo_in_event_name_is_W001_with_did_you_mean() -> None:
    found = the_problem({"user_registred": ["tests.hooks.record_sync"]})
    assert found.id == messages.W001
    assert not found.is_serious()
    assert "REGSTACK_HOOKS" in found.msg
    assert "'user_registred'" in found.msg
    assert "Did you mean 'user_registered'?" in found.hint


def test_custom_event_name_is_W001_with_how_to_silence_it() -> None:
    found = the_problem({"invoice_paid": ["tests.hooks.record_sync"]})
    assert found.id == messages.W001
    assert "'invoice_paid'" in found.msg
    assert "SILENCED_SYSTEM_CHECKS" in found.hint
    assert messages.W001 in found.hint


def test_every_problem_is_reported_at_once() -> None:
    value = {
        "user_registered": [
            "tests.hooks.recrod_sync",
            "tests.hooks.NOT_CALLABLE",
            "tests.hooks.record_sync",
            {"handler": "tests.hooks.record_sync", "timout": 1},
        ],
        "user_registred": ["tests.hooks.no_kwargs"],
    }
    found = ids(value, REGSTACK_HOOKS_RAISE_ERRORS="yes")
    assert sorted(found) == sorted(
        [messages.E012, messages.E004, messages.E005, messages.E007, messages.W001, messages.E006]
    )


def test_every_id_has_a_case_in_this_module() -> None:
    covered = {p.values[0] for p in ENTRY_CASES}
    covered |= {
        messages.E001,
        messages.E002,
        messages.E003,
        messages.E010,
        messages.E012,
        messages.W001,
    }
    covered |= test_regstack_settings.COVERED
    # The background and outbox checks are covered in tests/background/test_background_checks.py.
    covered |= {messages.E023, messages.E024, messages.W006, messages.W007, messages.W009}
    covered |= {messages.E020, messages.E021}  # tests/pool/test_pool.py
    covered |= {messages.E025}  # below
    covered |= {messages.E030}  # tests/background/test_dead_letters.py
    covered |= {messages.E032}  # tests/background/test_replays.py
    covered |= {messages.E060}  # tests/audit/test_audit.py
    covered |= {messages.E045, messages.E046, messages.W045}  # tests/context/test_context_checks.py
    covered |= {messages.E050, messages.E051}  # tests/observability/test_switch.py
    covered |= {messages.E040, messages.E041, messages.W040}  # tests/auth/test_drf_and_checks.py
    assert covered == messages.ALL_IDS


# -- app_configs and registration --------------------------------------------------------------


def test_app_configs_without_this_app_report_nothing() -> None:
    others = [apps.get_app_config("auth"), apps.get_app_config("contenttypes")]
    with hooks_settings(REGSTACK_HOOKS={"user_registered": ["tests.hooks.recrod_sync"]}):
        assert list(check_hooks_setting(app_configs=others)) == []
        mine = [*others, apps.get_app_config("regstack_django")]
        assert [p.id for p in check_hooks_setting(app_configs=mine)] == [messages.E004]


def test_check_command_runs_the_check() -> None:
    typo = {"user_registered": ["tests.hooks.recrod_sync"]}
    with hooks_settings(REGSTACK_HOOKS=typo), pytest.raises(SystemCheckError) as excinfo:
        call_command("check")
    text = str(excinfo.value)
    assert messages.E004 in text
    assert "tests.hooks.recrod_sync" in text


def test_check_command_honours_silenced_warning() -> None:
    with hooks_settings(
        REGSTACK_HOOKS={"invoice_paid": ["tests.hooks.record_sync"]},
        SILENCED_SYSTEM_CHECKS=[messages.W001],
    ):
        call_command("check")


# -- the id table -------------------------------------------------------------------------------


def test_ids_are_unique_namespaced_and_named_after_their_constant() -> None:
    constants = {
        name: value for name, value in vars(messages).items() if re.fullmatch(r"[EW]\d{3}", name)
    }
    assert len(set(constants.values())) == len(constants)
    assert all(value == f"regstack_django.{name}" for name, value in constants.items())
    assert set(constants.values()) == messages.ALL_IDS


def test_every_id_has_a_hint() -> None:
    assert all(messages.HINTS[code].strip() for code in messages.ALL_IDS)


# -- as a new user runs it ----------------------------------------------------------------------

TYPO_SETTINGS = """
SECRET_KEY = "not-secret"
INSTALLED_APPS = ["regstack_django"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
REGSTACK_HOOKS = {"user_registered": ["tests.hooks.recrod_sync"]}
"""


def django_admin(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "typo_settings.py").write_text(TYPO_SETTINGS)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "typo_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_names_the_typo(output: str) -> None:
    assert "regstack_django.E004" in output
    assert "REGSTACK_HOOKS" in output
    assert "'user_registered'" in output
    assert "'tests.hooks.recrod_sync'" in output


def test_django_check_reports_a_typo_as_a_system_check_error(tmp_path: Path) -> None:
    result = django_admin(tmp_path, "check")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "System check identified" in output
    assert "ImproperlyConfigured" not in output
    assert_names_the_typo(output)


def test_any_other_command_stops_at_startup_with_improperly_configured(tmp_path: Path) -> None:
    result = django_admin(tmp_path, "shell", "-c", "print('started')")
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert_names_the_typo(result.stderr)


@pytest.mark.parametrize("imported_first", [False, True], ids=["not-imported", "imported"])
def test_a_module_given_as_a_handler_is_e005_whatever_the_import_order(
    imported_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import tests

    name = "tests.a_hooks_module"
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delattr(tests, "a_hooks_module", raising=False)
    if imported_first:
        importlib.import_module(name)
    message = the_problem({"user_registered": [name]})
    assert message.id == messages.E005
    assert message.msg == (
        "REGSTACK_HOOKS['user_registered'][0] 'tests.a_hooks_module' is a module, not a "
        "function: name a function in it, e.g. 'tests.a_hooks_module.on_registered'."
    )


def test_a_handler_module_that_raises_on_import_is_e004_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hooks_that_raise.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = the_problem({"user_registered": ["hooks_that_raise.on_registered"]})
    assert message.id == messages.E004
    assert message.msg == (
        "REGSTACK_HOOKS['user_registered'][0] cannot import 'hooks_that_raise.on_registered': "
        "importing it raised RuntimeError: boom."
    )


def test_one_handler_twice_in_the_background_of_one_event_is_E025() -> None:
    entry = {"handler": "tests.hooks.record_background", "background": True}
    found = problems({"user_registered": [entry, "tests.hooks.record_sync", dict(entry)]})
    assert [(p.id, p.msg) for p in found if p.is_serious()] == [
        (
            "regstack_django.E025",
            "REGSTACK_HOOKS['user_registered'][2] lists 'tests.hooks.record_background' again "
            "as a background handler of 'user_registered'.",
        )
    ]
