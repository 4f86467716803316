"""Dead letters: a row that can never succeed dies at once, a failing one at the maximum.

In process (Immediate or Dummy backend); ``manage.py regstack_outbox`` is exercised here too.
Real processes (``db_worker``, the relay) are in tests/project/test_durable_worker.py.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from regstack_django import HookRegistry
from regstack_django.background.tasks_compat import tasks_module
from regstack_django.checks import messages
from regstack_django.checks.registered import check_seconds_settings
from regstack_django.envelope import UntrustedMessage
from regstack_django.models import OutboxEvent, RelayHeartbeat
from regstack_django.worker import UntrustedTask, deliver
from tests import hooks
from tests.background.test_durable import DUMMY, DURABLE, FAILING, IMMEDIATE, relay_once, user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    hooks.reset()
    yield
    hooks.reset()


def outbox_command(*args: str) -> str:
    out = io.StringIO()
    call_command("regstack_outbox", *args, stdout=out)
    return out.getvalue()


def handed_out_message(registry: HookRegistry) -> str:
    """Fire one durable event and let the relay hand it to the Dummy backend; return the task."""
    backend = tasks_module().task_backends["default"]  # type: ignore[union-attr]
    backend.clear()
    registry.fire_sync("user_registered", user=user())
    relay_once()
    [result] = backend.results
    return str(result.args[0])


@override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE)
def test_a_row_the_worker_cannot_verify_is_dead_at_once(registry: HookRegistry) -> None:
    """The worker runs another SECRET_KEY: the exact stored message is refused, so the row dies."""
    message = handed_out_message(registry)
    with override_settings(SECRET_KEY="another-key-" * 5), pytest.raises(UntrustedMessage):
        deliver.call(message)
    row = OutboxEvent.objects.get()
    assert row.status() == "dead"
    assert "signature does not match" in row.last_error
    assert hooks.CALLS == []


@override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE)
def test_a_row_whose_handler_the_worker_does_not_know_is_dead(registry: HookRegistry) -> None:
    message = handed_out_message(registry)
    with override_settings(REGSTACK_HOOKS={}), pytest.raises(UntrustedTask):
        deliver.call(message)
    row = OutboxEvent.objects.get()
    assert row.status() == "dead"
    assert row.last_error.startswith("regstack_django.worker.UntrustedTask: 'tests.hooks.")


@override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE)
def test_a_tampered_copy_in_the_queue_leaves_the_row_alive(registry: HookRegistry) -> None:
    """Only the row's own message can kill it: a forged copy fails alone, the row redelivers."""
    message = handed_out_message(registry)
    with pytest.raises(UntrustedMessage):
        deliver.call(message.replace("e", "f", 1))
    assert OutboxEvent.objects.get().status() == "handed out"
    deliver.call(message)
    assert OutboxEvent.objects.get().status() == "delivered"


@override_settings(
    TASKS=IMMEDIATE,
    REGSTACK_HOOKS=FAILING,
    REGSTACK_OUTBOX_MAX_ATTEMPTS=3,
    REGSTACK_OUTBOX_BACKOFF=60,
)
def test_a_handler_that_always_fails_is_dead_after_max_attempts(registry: HookRegistry) -> None:
    registry.fire_sync("user_registered", user=user())
    for run in (1, 2):
        relay_once()
        row = OutboxEvent.objects.get()
        assert (row.failures, row.status()) == (run, "failing")
        assert row.available_at > timezone.now() + timedelta(seconds=50)  # backing off
        OutboxEvent.objects.update(available_at=timezone.now())
    relay_once()
    row = OutboxEvent.objects.get()
    assert (row.failures, row.attempts, row.status()) == (3, 3, "dead")
    assert row.last_error.startswith("builtins.RuntimeError: could not mail [REDACTED]")
    OutboxEvent.objects.update(available_at=timezone.now())
    relay_once()
    assert OutboxEvent.objects.get().attempts == 3  # a dead row is never handed out again


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=FAILING, REGSTACK_OUTBOX_MAX_ATTEMPTS=1)
def test_retry_dead_revives_the_row_with_fresh_counts(registry: HookRegistry) -> None:
    registry.fire_sync("user_registered", user=user())
    relay_once()
    assert OutboxEvent.objects.get().status() == "dead"
    assert "1 dead" in outbox_command()
    assert "could not mail [REDACTED]" in outbox_command("--status", "dead")
    assert "1 row(s) due now" in outbox_command("--retry-dead")
    row = OutboxEvent.objects.get()
    assert (row.status(), row.failures, row.dead_at) == ("pending", 0, None)
    relay_once()  # handed out and run again: one more failure, dead again at the maximum
    row = OutboxEvent.objects.get()
    assert (row.attempts, row.failures, row.status()) == (2, 1, "dead")


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_check_fails_with_overdue_rows_and_no_relay_then_passes_once_drained(
    registry: HookRegistry,
) -> None:
    registry.fire_sync("user_registered", user=user())
    with pytest.raises(CommandError) as failed:
        outbox_command("--check")
    assert failed.value.returncode == 1
    assert "No relay has been seen" in str(failed.value)
    assert "never" in str(failed.value)
    OutboxEvent.objects.update(available_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(CommandError, match="1 outbox row"):
        outbox_command("--check")
    assert "1 stale" in outbox_command()
    relay_once()  # hands out (the Immediate backend runs it) and records its heartbeat
    assert "OK" in outbox_command("--check")
    RelayHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=301))
    with pytest.raises(CommandError, match="No relay has been seen for 300s"):
        outbox_command("--check")


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS={})
def test_check_passes_without_durable_entries_or_rows() -> None:
    assert "OK" in outbox_command("--check")


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_purge_deletes_old_delivered_and_dead_rows_and_dry_run_only_counts(
    registry: HookRegistry,
) -> None:
    for _ in range(3):
        registry.fire_sync("user_registered", user=user())
    relay_once()
    old = timezone.now() - timedelta(days=10)
    first, second, third = OutboxEvent.objects.order_by("id")
    OutboxEvent.objects.filter(pk=first.pk).update(delivered_at=old)
    OutboxEvent.objects.filter(pk=second.pk).update(delivered_at=None, dead_at=old)
    assert "2 row(s) would be deleted" in outbox_command("--purge", "7", "--dry-run")
    assert OutboxEvent.objects.count() == 3
    assert "2 row(s) deleted" in outbox_command("--purge", "7")
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [third.pk]
    with pytest.raises(CommandError, match="--dry-run goes with --purge"):
        outbox_command("--dry-run")


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_the_relay_logs_one_info_line_per_batch_with_counts_only(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        registry.fire_sync("user_registered", user=user())
    with caplog.at_level(logging.INFO, logger="regstack_django"):
        relay_once()
        relay_once()  # nothing due: no line
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("regstack relay")]
    assert lines == ["regstack relay: 3 due, 3 handed out, 0 refused by the broker, 0 dead."]
    assert "bob@example.com" not in caplog.text


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3", 10_001])
def test_max_attempts_that_is_not_a_whole_number_in_range_is_E030(value: Any) -> None:
    with override_settings(REGSTACK_OUTBOX_MAX_ATTEMPTS=value):
        [found] = check_seconds_settings()
    assert found.id == messages.E030
    assert "REGSTACK_OUTBOX_MAX_ATTEMPTS" in found.msg
    assert "10000" in found.hint


def test_max_attempts_in_range_reports_nothing() -> None:
    with override_settings(REGSTACK_OUTBOX_MAX_ATTEMPTS=1, REGSTACK_OUTBOX_STALE_AFTER=60):
        assert list(check_seconds_settings()) == []
