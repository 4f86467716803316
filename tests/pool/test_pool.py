"""Concurrent fires outside a Django request: the bridge's worker pool, as a user sees it.

regstack fires from its FastAPI routes, outside Django's request handler; here
that is a plain pytest-asyncio loop. Every hung receiver waits on
``tests.hooks.RELEASE`` (bounded), which the autouse fixture sets at teardown.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import override_settings

from regstack_django import HookRegistry, signals
from regstack_django.checks import messages
from regstack_django.checks.registered import check_pool_settings
from regstack_django.failures import ReceiverTimeout
from regstack_django.hooks import timeouts
from regstack_django.pool import WorkerUnavailable, process
from regstack_django.pool.threads import caller_thread_context
from regstack_django.signals import receiver_failed
from tests import hooks
from tests.testapp.models import Delivery
from tests.utils import bridge_errors, connected

USER = "ada"


@pytest.fixture(autouse=True)
async def _release_hung_receivers() -> AsyncIterator[None]:
    hooks.reset()
    hooks.RELEASE.clear()
    yield
    hooks.RELEASE.set()
    # Let released threads and their abandoned tasks end inside this test's loop.
    await eventually(lambda: timeouts.abandoned_count() == 0)
    hooks.reset()


async def eventually(condition: Callable[[], bool], limit: float = 5.0) -> bool:
    """Poll ``condition`` on the loop for at most ``limit`` seconds."""
    for _ in range(int(limit / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


@contextmanager
def pool_of(workers: int, wait: float = 3.0, **hooks_setting: Any) -> Iterator[None]:
    overrides: dict[str, Any] = {
        "REGSTACK_HOOKS_WORKERS": workers,
        "REGSTACK_HOOKS_WORKER_WAIT": wait,
    }
    if hooks_setting:
        overrides["REGSTACK_HOOKS"] = hooks_setting
    with override_settings(**overrides):
        yield


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "regstack_django" and r.levelno == logging.WARNING
    ]


async def process_wide_thread() -> int:
    """The thread asgiref uses for thread-sensitive calls with no context at all."""
    return await sync_to_async(threading.get_ident)()


# -- parallelism ------------------------------------------------------------------------------


async def test_concurrent_fires_run_their_sync_receivers_side_by_side(
    registry: HookRegistry,
) -> None:
    threads: list[int] = []

    def slow(sender: object, **kwargs: Any) -> None:
        threads.append(threading.get_ident())
        time.sleep(0.2)

    with pool_of(10), connected(signals.user_logged_in, slow):
        started = time.monotonic()
        await asyncio.gather(*(registry.fire("user_logged_in", user=USER) for _ in range(10)))
        elapsed = time.monotonic() - started
    # Ten 0.2 s receivers: 2 s one after another, about 0.2 s side by side.
    assert elapsed < 1.0
    assert len(set(threads)) == 10
    assert await process_wide_thread() not in threads


async def test_more_fires_than_workers_queue_for_a_worker_and_all_run(
    registry: HookRegistry,
) -> None:
    threads: list[int] = []

    def slow(sender: object, **kwargs: Any) -> None:
        threads.append(threading.get_ident())
        time.sleep(0.1)

    with pool_of(2, wait=10), connected(signals.user_logged_in, slow):
        started = time.monotonic()
        await asyncio.gather(*(registry.fire("user_logged_in", user=USER) for _ in range(6)))
        elapsed = time.monotonic() - started
    assert len(threads) == 6
    assert len(set(threads)) == 2  # never more threads than workers
    assert 0.25 < elapsed < 2.0  # three rounds of two


async def test_an_async_receivers_sync_to_async_goes_to_its_fires_worker(
    registry: HookRegistry,
) -> None:
    seen: dict[str, list[int]] = {"sync": [], "async": [], "async only": []}
    inside: list[bool] = []

    def sync_receiver(sender: object, **kwargs: Any) -> None:
        seen["sync"].append(threading.get_ident())

    async def async_receiver(sender: object, **kwargs: Any) -> None:
        inside.append(caller_thread_context())
        seen["async"].append(await sync_to_async(threading.get_ident)())

    async def async_only(sender: object, **kwargs: Any) -> None:
        first = await sync_to_async(threading.get_ident)()
        second = await sync_to_async(threading.get_ident)()
        seen["async only"].extend([first, second])

    with (
        pool_of(4),
        connected(signals.user_logged_in, sync_receiver, async_receiver),
        connected(signals.user_logged_out, async_only),
    ):
        await registry.fire("user_logged_in", user=USER)
        await registry.fire("user_logged_out", user=USER)
    shared = await process_wide_thread()
    assert seen["async"] == seen["sync"]
    assert shared not in seen["sync"]
    [only] = set(seen["async only"])  # both calls of the fire in one thread
    assert only != shared
    # A pooled fire is not a caller's thread: no caller's transaction there.
    assert inside == [False]


async def test_a_task_that_outlives_its_fire_cannot_borrow_a_thread_later(
    registry: HookRegistry,
) -> None:
    outcome: list[BaseException | int] = []
    go_on = asyncio.Event()
    spawned: list[asyncio.Task[None]] = []

    async def late() -> None:
        await go_on.wait()
        try:
            outcome.append(await sync_to_async(threading.get_ident)())
        except RuntimeError as exc:
            outcome.append(exc)

    async def leaves_a_task_behind(sender: object, **kwargs: Any) -> None:
        spawned.append(asyncio.ensure_future(late()))

    with connected(signals.user_logged_in, leaves_a_task_behind):
        await registry.fire("user_logged_in", user=USER)
    go_on.set()
    await asyncio.wait_for(spawned[0], 5)
    # asgiref's rule for a context with an executor: no silent move to another thread.
    [error] = outcome
    assert isinstance(error, RuntimeError)
    assert "ThreadSensitiveContext has exited" in str(error)


@pytest.mark.django_db(transaction=True)
async def test_pooled_receivers_write_through_the_orm_during_concurrent_fires(
    registry: HookRegistry,
) -> None:
    def write(sender: object, user: str, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="write", detail=user)

    with pool_of(3), connected(signals.user_registered, write):
        await asyncio.gather(*(registry.fire("user_registered", user=f"u{i}") for i in range(8)))
    details = [d async for d in Delivery.objects.values_list("detail", flat=True)]
    assert sorted(details) == sorted(f"u{i}" for i in range(8))


# -- inside a Django request or below a sync caller: the caller's thread ------------------------


async def test_inside_a_request_context_the_hop_stays_in_the_requests_thread(
    registry: HookRegistry,
) -> None:
    threads: list[int] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        threads.append(threading.get_ident())

    with connected(signals.user_logged_in, receiver):
        # What Django's ASGIHandler opens around every request.
        async with ThreadSensitiveContext():
            assert caller_thread_context()
            request_thread = await sync_to_async(threading.get_ident)()
            await registry.fire("user_logged_in", user=USER)
    assert threads == [request_thread]
    assert not threading.current_thread().name.startswith("regstack-hooks")


def test_below_async_to_sync_the_hop_comes_back_to_the_callers_thread(
    registry: HookRegistry,
) -> None:
    threads: list[int] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        threads.append(threading.get_ident())

    with connected(signals.user_logged_in, receiver):
        async_to_sync(registry.fire)("user_logged_in", user=USER)
    assert threads == [threading.get_ident()]


# -- a hung receiver costs one worker ----------------------------------------------------------


async def test_a_hung_receiver_of_one_event_does_not_delay_another_event(
    registry: HookRegistry,
) -> None:
    done: list[str] = []

    def quick(sender: object, **kwargs: Any) -> None:
        done.append("quick")

    with (
        pool_of(3, user_logged_out=["tests.hooks.hang_sync"]),
        connected(signals.user_logged_in, quick),
    ):
        # Two fires stuck for good (no timeout): two of the three workers.
        stuck = [asyncio.ensure_future(registry.fire("user_logged_out", user=USER)) for _ in "ab"]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        for _ in range(5):
            await registry.fire("user_logged_in", user=USER)
        elapsed = time.monotonic() - started
        assert not any(t.done() for t in stuck)
        hooks.RELEASE.set()
        await asyncio.wait_for(asyncio.gather(*stuck), 10)
    assert done == ["quick"] * 5
    assert elapsed < 1.0
    assert [name for _e, name, _k in hooks.CALLS] == ["hang_sync", "hang_sync"]


# -- timeouts on sync entries ------------------------------------------------------------------


async def test_a_sync_receiver_past_its_timeout_is_logged_reported_and_not_waited_for(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        reports.append(kwargs)

    entry = {"handler": "tests.hooks.hang_sync", "timeout": 0.2}
    with (
        pool_of(2, user_logged_in=[entry, "tests.hooks.record_sync"]),
        connected(receiver_failed, on_failure),
        caplog.at_level(logging.WARNING, logger="regstack_django"),
    ):
        started = time.monotonic()
        await registry.fire("user_logged_in", user=USER)
        elapsed = time.monotonic() - started
        # Not waited for: the fire returned; the receiver and the one after it
        # (connection order) run once the slow one returns.
        assert hooks.CALLS == []
        # The budget counts from the hand-over; make its own run time past it too.
        await asyncio.sleep(0.3)
        hooks.RELEASE.set()
        await eventually(lambda: len(hooks.CALLS) == 2)
    assert 0.15 < elapsed < 1.0
    [error] = bridge_errors(caplog)
    assert "tests.hooks.hang_sync" in error.getMessage()
    assert "'user_logged_in'" in error.getMessage()
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], ReceiverTimeout)
    [report] = reports
    assert report["receiver"] == "tests.hooks.hang_sync"
    assert isinstance(report["exception"], ReceiverTimeout)
    assert [name for _e, name, _k in hooks.CALLS] == ["hang_sync", "record_sync"]
    # When it finally returned, the overrun was logged with how long it took.
    [overrun] = [w for w in warnings_of(caplog) if "past its timeout" in w.getMessage()]
    assert "tests.hooks.hang_sync" in overrun.getMessage()


async def test_a_sync_receiver_within_its_timeout_runs_in_order_with_the_others(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    setting = [
        "tests.hooks.record_sync",
        {"handler": "tests.hooks.record_with_user", "timeout": 5},
        "tests.hooks.callable_instance",
    ]
    with pool_of(2, user_logged_in=setting), caplog.at_level(logging.WARNING):
        await registry.fire("user_logged_in", user=USER)
    assert [name for _e, name, _k in hooks.CALLS] == [
        "record_sync",
        "record_with_user",
        "CallableHandler",
    ]
    assert bridge_errors(caplog) == []


def test_in_the_callers_thread_a_sync_timeout_cannot_cut_the_wait_but_is_logged(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {"handler": "tests.hooks.sleep_sync", "timeout": 0.05}
    with pool_of(2, user_logged_in=[entry]), caplog.at_level(logging.WARNING):
        registry.fire_sync("user_logged_in", user=USER)
    assert [name for _e, name, _k in hooks.CALLS] == ["sleep_sync"]
    assert bridge_errors(caplog) == []
    [overrun] = warnings_of(caplog)
    assert "tests.hooks.sleep_sync" in overrun.getMessage()
    assert "past its timeout of 0.05s" in overrun.getMessage()


async def test_an_async_timeout_holds_even_when_the_receiver_waits_in_sync_to_async(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {"handler": "tests.hooks.hang_in_thread", "timeout": 0.2}
    quick: list[float] = []

    def other_event(sender: object, **kwargs: Any) -> None:
        quick.append(time.monotonic())

    with (
        pool_of(3, user_logged_in=[entry]),
        connected(signals.user_logged_out, other_event),
        caplog.at_level(logging.ERROR),
    ):
        started = time.monotonic()
        await asyncio.gather(*(registry.fire("user_logged_in", user=USER) for _ in range(2)))
        elapsed = time.monotonic() - started
        # Their worker threads still wait in sync_to_async; the third is free.
        await registry.fire("user_logged_out", user=USER)
    assert elapsed < 1.0
    assert len(quick) == 1
    errors = bridge_errors(caplog)
    assert len(errors) == 2
    assert all("tests.hooks.hang_in_thread" in e.getMessage() for e in errors)


# -- a saturated pool --------------------------------------------------------------------------


async def test_a_saturated_pool_fails_a_fire_after_the_wait_with_one_warning(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        reports.append(kwargs)

    entry = {"handler": "tests.hooks.hang_sync", "timeout": 0.05}
    with (
        pool_of(2, wait=0.2, user_logged_out=[entry], user_logged_in=["tests.hooks.record_sync"]),
        caplog.at_level(logging.WARNING, logger="regstack_django"),
    ):
        # Both workers stuck (the fires themselves returned at their timeout).
        await asyncio.gather(*(registry.fire("user_logged_out", user=USER) for _ in "ab"))
        caplog.clear()
        with connected(receiver_failed, on_failure):
            timings = []
            for _ in range(3):
                started = time.monotonic()
                await registry.fire("user_logged_in", user=USER)
                timings.append(time.monotonic() - started)
        saturated = [w for w in warnings_of(caplog) if "saturated" in w.getMessage()]
        errors = bridge_errors(caplog)
        hooks.RELEASE.set()
        # Once the stuck receivers return, their workers serve fires again.
        deadline = time.monotonic() + 5
        while not [c for c in hooks.CALLS if c[1] == "record_sync"]:
            assert time.monotonic() < deadline, "the workers never came back"
            await registry.fire("user_logged_in", user=USER)
            await asyncio.sleep(0.05)
    assert all(0.15 < t < 1.5 for t in timings), timings
    # One ERROR per refused receiver, but one WARNING for the whole episode.
    assert len(errors) == 3
    assert all("tests.hooks.record_sync" in e.getMessage() for e in errors)
    assert [r["receiver"] for r in reports] == ["tests.hooks.record_sync"] * 3
    assert all(isinstance(r["exception"], WorkerUnavailable) for r in reports)
    assert all(isinstance(r["exception"], ReceiverTimeout) for r in reports)
    [warning] = saturated
    message = warning.getMessage()
    assert "all 2 workers are busy" in message
    assert "tests.hooks.hang_sync" in message
    assert "'user_logged_in'" in message
    assert "REGSTACK_HOOKS_WORKER_WAIT" in message


# -- must-run receivers on a saturated pool -----------------------------------------------------

#: Holds the one worker of ``pool_of(1)``: the fire returns at its timeout, the receiver hangs.
HOLDER = {"handler": "tests.hooks.hang_sync", "timeout": 0.05}


def must_run(path: str, timeout: float = 2.0) -> dict[str, Any]:
    return {"handler": path, "must_run": True, "timeout": timeout}


async def test_a_must_run_receiver_runs_when_no_worker_is_free_and_skipped_ones_report_once(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        reports.append(kwargs)

    logged_in = [
        "tests.hooks.record_sync",
        must_run("tests.hooks.record_thread"),
        "tests.hooks.callable_instance",
        must_run("tests.hooks.raises"),
    ]
    with (
        pool_of(1, wait=0.2, user_logged_out=[HOLDER], user_logged_in=logged_in),
        caplog.at_level(logging.WARNING, logger="regstack_django"),
    ):
        await registry.fire("user_logged_out", user=USER)
        caplog.clear()
        with connected(receiver_failed, on_failure):
            timings = []
            for _ in range(3):
                started = time.monotonic()
                await registry.fire("user_logged_in", user=USER)
                timings.append(time.monotonic() - started)
        ran = [c for c in hooks.CALLS if c[0] == "user_logged_in"]
        errors = bridge_errors(caplog)
    assert all(0.15 < t < 1.5 for t in timings), timings
    # The must-run receiver ran in every fire, on an overflow thread, before the fire returned.
    assert [name for _e, name, _k in ran] == ["record_thread"] * 3
    assert all(k["thread"].startswith("regstack-must-run") for _e, _n, k in ran)
    # Each skipped receiver is reported once per fire; the must-run one that raised, with
    # its own error (it ran), not as refused.
    per_fire = [(r["receiver"], type(r["exception"]).__name__) for r in reports]
    assert (
        per_fire
        == [
            ("tests.hooks.record_sync", "WorkerUnavailable"),
            ("tests.hooks.callable_instance", "WorkerUnavailable"),
            ("tests.hooks.raises", "RuntimeError"),
        ]
        * 3
    )
    assert len(errors) == 9
    assert not any("record_thread" in e.getMessage() for e in errors)
    [saturated] = [w for w in warnings_of(caplog) if "saturated" in w.getMessage()]
    assert "tests.hooks.hang_sync" in saturated.getMessage()


async def test_a_must_run_receiver_past_its_timeout_is_reported_once_and_still_runs(
    registry: HookRegistry,
) -> None:
    reports: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        reports.append(kwargs)

    logged_in = [must_run("tests.hooks.hang_sync", 0.2), must_run("tests.hooks.record_thread")]
    with pool_of(1, wait=0.1, user_logged_out=[HOLDER], user_logged_in=logged_in):
        await registry.fire("user_logged_out", user=USER)
        with connected(receiver_failed, on_failure):
            started = time.monotonic()
            await registry.fire("user_logged_in", user=USER)
            elapsed = time.monotonic() - started
        assert [c for c in hooks.CALLS if c[0] == "user_logged_in"] == []
        hooks.RELEASE.set()
        assert await eventually(lambda: len(hooks.CALLS) == 3)
    # Bounded: the worker wait, then at most the must-run receiver's own timeout.
    assert 0.25 < elapsed < 1.5, elapsed
    [report] = reports
    assert report["receiver"] == "tests.hooks.hang_sync"
    assert isinstance(report["exception"], ReceiverTimeout)
    assert not isinstance(report["exception"], WorkerUnavailable)
    # Nothing was lost: both ran, in connection order, once the hung one returned.
    ran = [name for event, name, _k in hooks.CALLS if event == "user_logged_in"]
    assert ran == ["hang_sync", "record_thread"]


async def test_a_must_run_receiver_with_a_free_worker_runs_on_the_pool_like_any_other(
    registry: HookRegistry,
) -> None:
    with pool_of(1, user_logged_in=[must_run("tests.hooks.record_thread")]):
        await registry.fire("user_logged_in", user=USER)
    [(_event, _name, kwargs)] = hooks.CALLS
    assert kwargs["thread"].startswith("regstack-hooks-")


async def test_a_fire_with_only_async_receivers_needs_no_free_worker(
    registry: HookRegistry,
) -> None:
    ran: list[str] = []

    async def pure_async(sender: object, **kwargs: Any) -> None:
        ran.append("async")

    entry = {"handler": "tests.hooks.hang_sync", "timeout": 0.05}
    with pool_of(1, wait=5, user_logged_out=[entry]), connected(signals.user_logged_in, pure_async):
        await registry.fire("user_logged_out", user=USER)  # the only worker is stuck
        started = time.monotonic()
        await registry.fire("user_logged_in", user=USER)
        elapsed = time.monotonic() - started
    assert ran == ["async"]
    assert elapsed < 0.5


# -- database connections ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("max_age", [0, 60])
async def test_worker_connections_stay_bounded_over_a_long_run(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch, max_age: int
) -> None:
    opened: list[Any] = []
    lock = threading.Lock()

    def note(sender: object, connection: Any, **kwargs: Any) -> None:
        with lock:
            opened.append(connection)

    def write(sender: object, user: str, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="write", detail=user)

    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", max_age)
    size, rounds, width = 3, 20, 6
    with pool_of(size), connected(signals.user_registered, write):
        connection_created.connect(note)
        try:
            for r in range(rounds):
                await asyncio.gather(
                    *(registry.fire("user_registered", user=f"{r}-{i}") for i in range(width))
                )
        finally:
            connection_created.disconnect(note)
        still_open = {id(c) for c in opened if c.connection is not None}
        current = process.current_pool()
        assert current is not None
        busy = await asyncio.get_running_loop().run_in_executor(None, current.shutdown)
        # A shut pool is never handed out again: the next fire builds a new one.
        assert process.current_pool() is None
        assert process.get_pool() is not current
    assert await Delivery.objects.acount() == rounds * width
    assert busy == []
    if max_age == 0:
        # Closed after every hop, as after a request.
        assert still_open == set()
        assert len(opened) >= rounds
    else:
        # Reused: at most one connection per worker thread for the alias.
        assert len({id(c) for c in opened}) <= size
        assert len(still_open) <= size
    # Shutdown closed every worker's connection in its own thread.
    assert all(c.connection is None for c in opened)


# -- settings and checks -----------------------------------------------------------------------


def problems(monkeypatch: pytest.MonkeyPatch, **values: Any) -> list[tuple[str, str, str]]:
    # Set without override_settings, which would re-wire and refuse the value on entry.
    for name, value in values.items():
        monkeypatch.setattr(settings, name, value, raising=False)
    return [(p.id or "", p.msg, p.hint or "") for p in check_pool_settings()]


@pytest.mark.parametrize("value", [0, -1, True, "4", 2.5, 5000, None])
def test_a_bad_worker_count_is_E020_naming_setting_and_value(
    monkeypatch: pytest.MonkeyPatch, value: Any
) -> None:
    # override_settings rewires, and start-up refuses a bad value with the same words.
    with (
        pytest.raises(ImproperlyConfigured, match="E020"),
        override_settings(REGSTACK_HOOKS_WORKERS=value),
    ):
        pass
    [(check_id, msg, hint)] = problems(monkeypatch, REGSTACK_HOOKS_WORKERS=value)
    assert check_id == messages.E020
    assert "REGSTACK_HOOKS_WORKERS" in msg
    assert repr(value) in msg
    assert "REGSTACK_HOOKS_WORKERS = 20" in hint


@pytest.mark.parametrize("value", [-1, "3", math.inf, math.nan, True, None, 10**400])
def test_a_bad_worker_wait_is_E021_naming_setting_and_value(
    monkeypatch: pytest.MonkeyPatch, value: Any
) -> None:
    with (
        pytest.raises(ImproperlyConfigured, match="E021"),
        override_settings(REGSTACK_HOOKS_WORKER_WAIT=value),
    ):
        pass
    [(check_id, msg, hint)] = problems(monkeypatch, REGSTACK_HOOKS_WORKER_WAIT=value)
    assert check_id == messages.E021
    assert "REGSTACK_HOOKS_WORKER_WAIT" in msg
    assert repr(value) in msg
    assert "REGSTACK_HOOKS_WORKER_WAIT = 3.0" in hint


def test_start_up_refuses_a_bad_pool_and_a_bad_entry_in_one_message() -> None:
    with (
        pytest.raises(ImproperlyConfigured) as refused,
        override_settings(
            REGSTACK_HOOKS={"user_registered": ["tests.hooks.recrod_sync"]},
            REGSTACK_HOOKS_WORKERS=0,
        ),
    ):
        pass
    text = str(refused.value)
    assert messages.E020 in text
    assert messages.E004 in text


def test_manage_py_check_reports_bad_pool_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "REGSTACK_HOOKS_WORKERS", 0, raising=False)
    monkeypatch.setattr(settings, "REGSTACK_HOOKS_WORKER_WAIT", -1, raising=False)
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")
    assert messages.E020 in str(excinfo.value)
    assert messages.E021 in str(excinfo.value)


def test_good_pool_settings_report_nothing_and_size_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert problems(monkeypatch, REGSTACK_HOOKS_WORKERS=1, REGSTACK_HOOKS_WORKER_WAIT=0) == []
    monkeypatch.undo()
    with pool_of(7, wait=0.5):
        built = process.get_pool()
        assert (built.size, built.wait) == (7, 0.5)
    assert process.get_pool() is not built  # rebuilt when the settings changed back


# -- process exit ------------------------------------------------------------------------------

EXIT_SCRIPT = """
import asyncio, threading
from benchmarks.harness import setup_django
setup_django(settings="benchmarks.settings")
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from regstack_django import get_registry, signals

real_close = DatabaseWrapper.close

def spy_close(self):
    if self.connection is not None:
        print("closed in", threading.current_thread().name, flush=True)
    real_close(self)

DatabaseWrapper.close = spy_close
connections["default"].settings_dict["CONN_MAX_AGE"] = 60

def query(sender, **kwargs):
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        print("queried", cursor.fetchone(), flush=True)

signals.user_registered.connect(query, weak=False)
asyncio.run(get_registry().fire("user_registered", user="u"))
print("exiting", flush=True)
"""


def test_at_process_exit_each_worker_closes_its_own_connection() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "queried (1,)" in lines
    after_exit = lines[lines.index("exiting") + 1 :]
    # The persistent (CONN_MAX_AGE=60) connection of the worker that ran the
    # query was closed at exit, in that worker's own thread.
    assert [line for line in after_exit if "regstack-hooks-0" in line] == [
        "closed in regstack-hooks-0_0"
    ]
