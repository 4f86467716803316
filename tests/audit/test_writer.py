"""Rows written off the request: in order, never lost silently, never blocking the fire."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection, connections, transaction
from django.test import override_settings

from regstack_django import get_registry
from regstack_django.audit import writer
from regstack_django.audit.models import AuthEvent
from tests import hooks

pytestmark = pytest.mark.django_db(transaction=True)


def _fire(n: int, event: str = "user_logged_in") -> None:
    for i in range(n):
        get_registry().fire_sync(event, user=SimpleNamespace(id=i, email=f"u{i}@example.com"))


def test_outside_a_transaction_the_writer_thread_stores_every_row_in_order() -> None:
    _fire(30)
    writer.flush()
    assert list(AuthEvent.objects.order_by("id").values_list("user_id", flat=True)) == [
        str(i) for i in range(30)
    ]


def test_inside_the_callers_transaction_the_row_is_written_there() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        _fire(1)
        assert AuthEvent.objects.count() == 1  # visible at once, in this transaction
        raise RuntimeError("roll back")
    writer.flush()
    assert AuthEvent.objects.count() == 0  # rolled back with it


def test_a_database_failure_is_logged_without_values_and_the_next_rows_are_stored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = AuthEvent.objects.bulk_create
    calls: list[int] = []

    def failing_once(objs: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(objs))
        if len(calls) == 1:
            raise OperationalError("database is locked: alice@example.com")
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(AuthEvent.objects, "bulk_create", failing_once)
    _fire(1)
    writer.flush()
    _fire(1)
    writer.flush()
    assert AuthEvent.objects.count() == 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "regstack_django"]
    assert line == "The audit log could not store 1 event(s): OperationalError."


def test_past_the_bound_rows_are_dropped_and_counted_in_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(writer, "MAX_PENDING", 3)
    release = threading.Event()
    writer._writer().submit(release.wait, 30)  # the database "hangs"
    try:
        _fire(5)  # returns at once: the fire never waits for the writer
    finally:
        release.set()
    writer.flush()
    assert AuthEvent.objects.count() == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "regstack_django"]
    assert messages == [
        "The audit log dropped 2 event(s): 3 rows were already waiting for the database."
    ]


async def test_a_saturated_pool_never_skips_the_audit_row() -> None:
    user = SimpleNamespace(id=1, email="ann@example.com")
    holder = {"handler": "tests.hooks.hang_sync", "timeout": 0.05}  # keeps the one worker busy
    hooks.RELEASE.clear()
    try:
        with override_settings(
            REGSTACK_HOOKS_WORKERS=1,
            REGSTACK_HOOKS_WORKER_WAIT=0.2,
            REGSTACK_HOOKS={"user_logged_out": [holder]},
        ):
            await get_registry().fire("user_logged_out", user=user)
            started = time.monotonic()
            await get_registry().fire("user_logged_in", user=user)  # no worker is free
            waited = time.monotonic() - started
            logged_in = await AuthEvent.objects.filter(event="user_logged_in").acount()
            await sync_to_async(writer.flush)()
            assert await AuthEvent.objects.filter(event="user_logged_in").acount() == 1
    finally:
        hooks.RELEASE.set()
    assert logged_in in (0, 1)  # queued for the writer before the fire returned
    assert waited < 2.0


def test_the_pytest_plugin_closes_the_writers_connection_after_a_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CONN_MAX_AGE > 0: the writer keeps its connection between batches...
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    _fire(1)
    writer.flush()

    def is_open() -> bool:
        return connection.connection is not None

    assert writer._writer().submit(is_open).result(timeout=10)
    # ... which would keep a PostgreSQL test database from being dropped: the plugin's
    # teardown closes it, as it closes the bridge's workers' (this call is what it runs).
    writer.close_connections()
    assert not writer._writer().submit(is_open).result(timeout=10)
