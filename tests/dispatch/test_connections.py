"""Database connections around the thread hop behave as in Django's request cycle."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, connections, transaction

from regstack_django import HookRegistry, signals
from regstack_django.pool.process import current_pool
from regstack_django.pool.workers import Pool
from tests.testapp.models import Delivery
from tests.utils import connected


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads in which a database connection was closed during the test."""
    closed_in: list[int] = []
    wrapper_class = type(connections["default"])
    real_close = wrapper_class.close

    def spy_close(self: Any) -> None:
        closed_in.append(threading.get_ident())
        real_close(self)

    monkeypatch.setattr(wrapper_class, "close", spy_close)
    return closed_in


@pytest.mark.django_db
def test_a_hop_into_the_callers_transaction_never_closes_its_connection(
    registry: HookRegistry,
) -> None:
    seen: list[bool] = []

    def write(sender: object, **kwargs: Any) -> None:
        seen.append(connection.in_atomic_block)
        Delivery.objects.create(event="user_registered", receiver="write")

    with transaction.atomic():
        raw_before = connection.connection
        with connected(signals.user_registered, write):
            # sync view -> async code -> fire -> thread-sensitive hop back here
            async_to_sync(registry.fire)("user_registered", user="u")
        assert connection.connection is raw_before
        assert Delivery.objects.count() == 1
    assert seen == [True]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("max_age", "closed"), [(0, True), (None, False)])
async def test_conn_max_age_is_honoured_for_the_worker_connection(
    registry: HookRegistry,
    monkeypatch: pytest.MonkeyPatch,
    closes: list[int],
    max_age: int | None,
    closed: bool,
) -> None:
    worker: list[int] = []

    def write(sender: object, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="write")
        worker.append(threading.get_ident())

    # CONN_MAX_AGE is per database: every thread's wrapper shares this dict.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", max_age)
    with connected(signals.user_registered, write):
        # close_at is computed when a connection opens: start from a fresh one.
        await sync_to_async(lambda: connections["default"].close(), thread_sensitive=True)()
        closes.clear()
        await registry.fire("user_registered", user="u")
    # CONN_MAX_AGE=0 closes after the receivers, as after a request;
    # persistent connections (None) stay open for the next hop.
    assert (worker[0] in closes) is closed


@pytest.mark.django_db(transaction=True)
async def test_a_broken_connection_is_dropped_even_with_a_long_conn_max_age(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch, closes: list[int]
) -> None:
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 600)
    worker: list[int] = []
    rows: list[int] = []

    broken: list[Any] = []

    def break_it(sender: object, **kwargs: Any) -> None:
        worker.append(threading.get_ident())
        wrapper = connections["default"]
        wrapper.ensure_connection()
        wrapper.errors_occurred = True
        wrapper.is_usable = lambda: False
        broken.append(wrapper)

    def write(sender: object, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="write")
        rows.append(Delivery.objects.count())

    with connected(signals.user_logged_out, break_it):
        await registry.fire("user_logged_out", user="u")
    vars(broken[0]).pop("is_usable")
    # A connection that saw errors and fails its health check is closed
    # (and reopened on next use), as Django's request cycle does.
    assert worker[0] in closes
    with connected(signals.user_registered, write):
        await registry.fire("user_registered", user="u")
    assert rows == [1]


@pytest.mark.django_db(transaction=True)
def test_a_connection_django_opened_under_an_alias_of_its_own_does_not_stop_a_fire(
    registry: HookRegistry,
) -> None:
    # Django opens "__no_db__" (not in DATABASES) to create or drop a test database.
    delivered: list[str] = []

    def write(sender: object, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="write")
        delivered.append("write")

    own = connections["default"].copy(alias="__no_db__")
    own.ensure_connection()
    try:
        with connected(signals.user_registered, write):
            async_to_sync(registry.fire)("user_registered", user="u")
    finally:
        own.close()
    assert delivered == ["write"]
    assert Delivery.objects.count() == 1


def _after_queued_work(pool: Pool) -> None:
    """Return once every used worker ran what was queued on it (first in, first out)."""
    for worker in pool.workers:
        if worker.used:
            worker.executor.submit(lambda: None).result(timeout=10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("max_age", "closed"), [(0, True), (None, False)])
async def test_an_async_receivers_orm_calls_get_the_same_connection_handling(
    registry: HookRegistry,
    monkeypatch: pytest.MonkeyPatch,
    closes: list[int],
    max_age: int | None,
    closed: bool,
) -> None:
    worker: list[int] = []

    def on_worker() -> None:
        worker.append(threading.get_ident())
        Delivery.objects.create(event="user_registered", receiver="awrite")

    async def awrite(sender: object, **kwargs: Any) -> None:
        # Its sync_to_async calls run on the fire's pool worker, outside any sync group.
        await Delivery.objects.acreate(event="user_registered", receiver="awrite")
        await sync_to_async(on_worker)()

    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", max_age)
    # close_at is computed when a connection opens: workers with none open.
    old = current_pool()
    if old is not None:
        await sync_to_async(old.shutdown, thread_sensitive=False)(timeout=10)
    closes.clear()
    with connected(signals.user_registered, awrite):
        await registry.fire("user_registered", user="u")
    pool = current_pool()
    assert pool is not None
    await sync_to_async(_after_queued_work, thread_sensitive=False)(pool)
    # CONN_MAX_AGE=0 closes after the fire, as after a request; None keeps it.
    assert (worker[0] in closes) is closed
    assert await Delivery.objects.acount() == 2
