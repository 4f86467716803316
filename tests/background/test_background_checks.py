"""Checks of background entries and of the enqueue/outbox settings.

E008 for a timeout that is not finite and bounded, E009 for ``durable``
without ``background`` (and ``on_commit`` with it), E011's hint for a refused
option, W006/W007 for the Immediate/Dummy backends, E023/E024 for the
seconds settings.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from regstack_django.checks import messages
from regstack_django.checks.registered import check_seconds_settings
from tests.checks.test_checks import ids, problems

PKG = settings.TASKS_PACKAGE
DUMMY = {"default": {"BACKEND": f"{PKG}.backends.dummy.DummyBackend"}}
IMMEDIATE = {"default": {"BACKEND": f"{PKG}.backends.immediate.ImmediateBackend"}}


def entry(**options: Any) -> dict[str, Any]:
    return {"user_registered": [{"handler": "tests.hooks.record_async", **options}]}


@pytest.mark.parametrize("value", [10**400, float("inf"), float("nan"), 0, -1, 86401, True])
def test_a_timeout_that_is_not_finite_and_bounded_is_E008(value: object) -> None:
    [found] = problems(entry(timeout=value))
    assert found.id == messages.E008
    assert "'timeout'" in found.msg
    assert "finite number of seconds > 0 and <= 86400" in found.hint


def test_a_bounded_timeout_is_fine() -> None:
    assert ids(entry(timeout=86400)) == []


def test_durable_without_background_is_E009() -> None:
    [found] = problems(entry(durable=True))
    assert found.id == messages.E009
    assert "'durable'" in found.msg


def test_on_commit_with_durable_is_E009() -> None:
    found = ids(entry(background=True, durable=True, on_commit=False), TASKS=DUMMY)
    assert found == [messages.E009, messages.W007]


def test_a_durable_entry_is_fine() -> None:
    assert ids(entry(background=True, durable=True), TASKS=DUMMY) == [messages.W007]


def test_the_immediate_backend_is_W006_and_the_dummy_backend_W007() -> None:
    [immediate] = problems(entry(background=True), TASKS=IMMEDIATE)
    assert immediate.id == messages.W006
    assert "runs in the request" in immediate.msg
    assert "TASKS" in immediate.hint
    [dummy] = problems(entry(background=True), TASKS=DUMMY)
    assert dummy.id == messages.W007
    assert "never runs" in dummy.msg
    assert messages.W007 in dummy.hint


DATABASE = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "mail"],
    }
}


def test_a_queue_other_than_default_is_W009_naming_the_worker_option() -> None:
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "django_tasks_db"]):
        [found] = problems(entry(background=True, queue_name="mail"), TASKS=DATABASE)
        assert ids(entry(background=True, queue_name="default"), TASKS=DATABASE) == []
        durable = entry(background=True, durable=True, queue_name="mail")
        assert ids(durable, TASKS=DATABASE) == [messages.W009]
    assert found.id == messages.W009
    assert "'mail'" in found.msg
    assert "reads only 'default'" in found.msg
    assert "db_worker --queue-name mail" in found.hint


def test_a_refused_priority_is_E011_with_a_hint_about_that_option() -> None:
    [found] = problems(entry(background=True, priority=10**6), TASKS=DUMMY)
    assert found.id == messages.E011
    assert "'priority'" in found.hint
    assert "alias" not in found.hint.lower()


def test_a_refused_queue_name_is_E011_with_a_hint_about_that_option() -> None:
    [found] = problems(entry(background=True, queue_name="nope"), TASKS=DUMMY)
    assert found.id == messages.E011
    assert "'queue_name'" in found.hint
    assert "QUEUES" in found.hint


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("REGSTACK_HOOKS_ENQUEUE_TIMEOUT", messages.E023),
        ("REGSTACK_OUTBOX_LEASE", messages.E024),
        ("REGSTACK_OUTBOX_POLL_INTERVAL", messages.E024),
        ("REGSTACK_OUTBOX_BACKOFF", messages.E024),
        ("REGSTACK_OUTBOX_BACKOFF_MAX", messages.E024),
        ("REGSTACK_OUTBOX_RETENTION", messages.E024),
    ],
)
@pytest.mark.parametrize("value", [0, -1, "2", float("nan"), float("inf"), 10**400, None])
def test_a_seconds_setting_that_is_not_a_bounded_number_is_reported(
    name: str, code: str, value: object
) -> None:
    with override_settings(**{name: value}):
        [found] = check_seconds_settings()
    assert found.id == code
    assert name in found.msg
    assert name in found.hint or "REGSTACK_HOOKS_ENQUEUE_TIMEOUT" in found.hint


def test_seconds_settings_unset_or_valid_report_nothing() -> None:
    assert list(check_seconds_settings()) == []
    with override_settings(REGSTACK_HOOKS_ENQUEUE_TIMEOUT=1.5, REGSTACK_OUTBOX_LEASE=60):
        assert list(check_seconds_settings()) == []


def test_the_seconds_check_is_registered() -> None:
    from django.core.management.base import SystemCheckError

    with override_settings(REGSTACK_OUTBOX_LEASE=0), pytest.raises(SystemCheckError, match="E024"):
        call_command("check")
