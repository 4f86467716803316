"""Durable background entries: the outbox row, the relay, the lease, the worker's mark.

The fire writes the row (inside the caller's transaction when there is one);
``manage.py regstack_relay --once`` hands due rows to the Tasks backend. With
the Immediate backend the relay's enqueue runs :func:`deliver` at once, so a
test sees the whole path in one process; with the Dummy backend the task
waits, which lets a test lose it, or run it twice, on purpose.
Real processes (``db_worker``, SIGKILL) are in tests/project/test_durable_worker.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from regstack_django import HookRegistry
from regstack_django.background.relay import prune
from regstack_django.background.tasks_compat import tasks_module
from regstack_django.envelope import open_envelope
from regstack_django.models import OutboxEvent
from regstack_django.worker import deliver
from support.net import free_port
from tests import hooks
from tests.brokers import socket_tasks

PKG = settings.TASKS_PACKAGE
IMMEDIATE = {"default": {"BACKEND": f"{PKG}.backends.immediate.ImmediateBackend"}}
DUMMY = {"default": {"BACKEND": f"{PKG}.backends.dummy.DummyBackend"}}
HANDLER = "tests.hooks.record_background"
DURABLE = {"user_registered": [{"handler": HANDLER, "background": True, "durable": True}]}
FAILING = {
    "user_registered": [
        {"handler": "tests.hooks.raises_quoting_email", "background": True, "durable": True}
    ]
}


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    hooks.reset()
    yield
    hooks.reset()


def user() -> Any:
    base_user = pytest.importorskip("regstack.models.user").BaseUser
    return base_user(
        _id="64b000000000000000000002",
        email="bob@example.com",
        hashed_password="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
    )


def relay_once() -> None:
    call_command("regstack_relay", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


def calls() -> list[tuple[str, str, dict[str, Any]]]:
    return list(hooks.CALLS)


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_inside_atomic_the_row_commits_with_the_transaction_and_the_relay_delivers(
    registry: HookRegistry,
) -> None:
    with transaction.atomic():
        registry.fire_sync("user_registered", user=user())
        assert OutboxEvent.objects.count() == 1  # in the caller's transaction
        assert calls() == []  # nothing enqueued, nothing run
    [row] = OutboxEvent.objects.all()
    assert (row.event, row.handler, row.attempts, row.delivered_at) == (
        "user_registered",
        HANDLER,
        0,
        None,
    )
    assert "bob@example.com" not in row.message  # signed and base64, not plain JSON
    relay_once()
    [(event, name, kwargs)] = calls()
    assert (event, name) == ("user_registered", "record_background")
    assert kwargs["event_id"] == row.event_id
    assert kwargs["user"].email == "bob@example.com"
    row.refresh_from_db()
    assert row.attempts == 1
    assert row.delivered_at is not None
    relay_once()  # delivered rows are never handed out again
    assert len(calls()) == 1


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_a_rollback_leaves_no_row(registry: HookRegistry) -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        registry.fire_sync("user_registered", user=user())
        1 / 0  # noqa: B018
    assert OutboxEvent.objects.count() == 0
    relay_once()
    assert calls() == []


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_async_code_below_a_sync_caller_writes_in_the_callers_transaction(
    registry: HookRegistry,
) -> None:
    """``await fire`` where the hop lands in the caller's thread: its atomic() holds the row."""
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        async_to_sync(registry.fire)("user_registered", user=user())
        assert OutboxEvent.objects.count() == 1
        1 / 0  # noqa: B018
    assert OutboxEvent.objects.count() == 0
    with transaction.atomic():
        async_to_sync(registry.fire)("user_registered", user=user())
    assert OutboxEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_outside_atomic_the_row_is_written_in_autocommit(registry: HookRegistry) -> None:
    registry.fire_sync("user_registered", user=user())
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 1
    relay_once()
    assert len(calls()) == 1


@pytest.mark.django_db(transaction=True)
def test_from_regstack_routes_the_row_is_written_on_the_bridges_own_thread(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain event loop (no caller thread): our enqueue thread writes, in autocommit."""
    from regstack_django.background import outbox

    threads: list[str] = []
    real_write = outbox.write

    def spy(*args: Any) -> None:
        threads.append(threading.current_thread().name)
        real_write(*args)

    monkeypatch.setattr(outbox, "write", spy)
    with override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE):

        def in_a_plain_loop() -> None:
            asyncio.run(registry.fire("user_registered", user=user()))

        runner = threading.Thread(target=in_a_plain_loop)  # no asgiref context at all
        runner.start()
        runner.join(30)
        assert len(threads) == 1
        assert threads[0].startswith("regstack-enqueue")
        assert OutboxEvent.objects.count() == 1
        relay_once()
    assert len(calls()) == 1


@pytest.mark.django_db(transaction=True)
def test_an_expired_lease_is_handed_out_again_with_the_same_event_id(
    registry: HookRegistry,
) -> None:
    """A lost task (broker lost it, worker killed): redelivered; a late duplicate is dropped."""
    with override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE, REGSTACK_OUTBOX_LEASE=0.2):
        backend = tasks_module().task_backends["default"]  # type: ignore[union-attr]
        backend.clear()
        registry.fire_sync("user_registered", user=user())
        relay_once()
        relay_once()  # leased: not handed out twice
        assert len(backend.results) == 1
        time.sleep(0.3)
        relay_once()  # the lease ran out with no delivery: handed out again
        assert len(backend.results) == 2
        first, second = (r.args[0] for r in backend.results)
        assert first == second  # the same signed message, so the same event_id
        [row] = OutboxEvent.objects.all()
        assert row.attempts == 2
        # The worker runs both copies: the handler runs once, the late copy is dropped.
        deliver.call(first)
        deliver.call(second)
    [(_, _, kwargs)] = calls()
    assert kwargs["event_id"] == row.event_id == uuid.UUID(open_envelope(first)[2]["event_id"])
    row.refresh_from_db()
    assert row.delivered_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_refuses_is_retried_with_backoff(registry: HookRegistry) -> None:
    with override_settings(
        TASKS=socket_tasks(free_port()),
        REGSTACK_HOOKS=DURABLE,
        REGSTACK_OUTBOX_BACKOFF=60,
    ):
        registry.fire_sync("user_registered", user=user())
        before = timezone.now()
        relay_once()
        [row] = OutboxEvent.objects.all()
        assert row.delivered_at is None
        assert (row.attempts, row.refusals, row.status()) == (0, 1, "failing")
        assert row.last_error.startswith("builtins.ConnectionRefusedError")
        assert row.available_at > before + timedelta(seconds=59)
        relay_once()  # backing off: not tried again yet
        row.refresh_from_db()
        assert row.refusals == 1
    with override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE):
        OutboxEvent.objects.update(available_at=timezone.now())  # what "Retry now" does
        relay_once()
    assert len(calls()) == 1


@pytest.mark.django_db(transaction=True)
def test_broker_refusals_do_not_lengthen_the_next_lease(registry: HookRegistry) -> None:
    """Five refusals in a row, then the broker is back: the hand-out gets the plain lease."""
    with override_settings(
        TASKS=socket_tasks(free_port()), REGSTACK_HOOKS=DURABLE, REGSTACK_OUTBOX_MAX_ATTEMPTS=2
    ):
        registry.fire_sync("user_registered", user=user())
        for _ in range(5):
            OutboxEvent.objects.update(available_at=timezone.now())  # skip the backoff
            relay_once()
        row = OutboxEvent.objects.get()
        assert (row.attempts, row.refusals, row.dead_at) == (0, 5, None)  # refusals never kill
    with override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE):
        backend = tasks_module().task_backends["default"]  # type: ignore[union-attr]
        backend.clear()
        OutboxEvent.objects.update(available_at=timezone.now())
        before = timezone.now()
        relay_once()
        [queued] = backend.results
    row.refresh_from_db()
    assert row.task_id == str(queued.id)  # the row names its queued task
    assert (row.attempts, row.refusals, row.status()) == (1, 0, "handed out")
    lease = (row.available_at - before).total_seconds()
    assert 299 < lease < 302  # REGSTACK_OUTBOX_LEASE (300 s), not 32 times it


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=FAILING, REGSTACK_OUTBOX_BACKOFF=30)
def test_a_failing_handler_keeps_the_row_with_an_error_that_quotes_no_argument(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.fire_sync("user_registered", user=user())
    relay_once()
    [row] = OutboxEvent.objects.all()
    assert row.delivered_at is None
    assert row.last_error.startswith("builtins.RuntimeError: could not mail ")
    assert "bob@example.com" not in row.last_error
    assert "[REDACTED]" in row.last_error
    assert row.available_at > timezone.now() + timedelta(seconds=20)


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_a_tampered_row_is_dead_after_one_attempt_with_its_reason(registry: HookRegistry) -> None:
    registry.fire_sync("user_registered", user=user())
    row = OutboxEvent.objects.get()
    OutboxEvent.objects.update(message=row.message.replace("e", "f", 1))
    relay_once()
    row.refresh_from_db()
    assert calls() == []
    assert row.status() == "dead"
    assert row.last_error.startswith("regstack_django.envelope.UntrustedMessage: The task message")
    assert row.delivered_at is None
    OutboxEvent.objects.update(available_at=timezone.now())
    relay_once()  # dead rows are never handed out again
    assert OutboxEvent.objects.get().last_error == row.last_error


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE, REGSTACK_OUTBOX_RETENTION=60)
def test_delivered_rows_are_pruned_after_the_retention(registry: HookRegistry) -> None:
    registry.fire_sync("user_registered", user=user())
    registry.fire_sync("user_registered", user=user())
    relay_once()
    assert OutboxEvent.objects.filter(delivered_at__isnull=False).count() == 2
    assert prune() == 0
    OutboxEvent.objects.filter(pk=OutboxEvent.objects.first().pk).update(  # type: ignore[union-attr]
        delivered_at=timezone.now() - timedelta(seconds=61)
    )
    assert prune() == 1
    assert OutboxEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_lease_doubles_per_hand_out_and_restarts_when_a_worker_starts(
    registry: HookRegistry,
) -> None:
    """A lagging queue is not filled with copies: hand-outs grow apart; a started run holds."""
    from regstack_django.background import outbox

    with override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE, REGSTACK_OUTBOX_LEASE=0.2):
        backend = tasks_module().task_backends["default"]  # type: ignore[union-attr]
        backend.clear()
        registry.fire_sync("user_registered", user=user())
        relay_once()  # hand-out 1, lease 0.2 s
        time.sleep(0.3)
        relay_once()  # hand-out 2, lease 0.4 s
        time.sleep(0.3)
        relay_once()  # still leased
        assert len(backend.results) == 2
        time.sleep(0.2)
        relay_once()  # hand-out 3
        assert len(backend.results) == 3
        row = OutboxEvent.objects.get()
        time.sleep(0.85)  # hand-out 3's lease (0.8 s) ran out ...
        assert outbox.begin_delivery(row.event_id, row.handler)  # ... but a worker starts it
        relay_once()
        assert len(backend.results) == 3  # the running delivery is not handed out again
