"""The DESIGN dispatch table, tested at the level a user sees."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, async_to_sync

from regstack_django import HookRegistry, signals
from regstack_django.signals import signal_for
from tests.testapp.models import Delivery
from tests.utils import connected


def test_fire_sync_runs_sync_receivers_inline_in_connection_order(registry: HookRegistry) -> None:
    seen: list[tuple[str, int]] = []

    def first(sender: object, **kwargs: Any) -> None:
        seen.append(("first", threading.get_ident()))

    def second(sender: object, **kwargs: Any) -> None:
        seen.append(("second", threading.get_ident()))

    with connected(signals.user_registered, first, second):
        registry.fire_sync("user_registered", user="u")
    me = threading.get_ident()
    assert seen == [("first", me), ("second", me)]


def test_receivers_get_the_kwargs_plus_signal_sender_and_context(
    registry: HookRegistry,
) -> None:
    got: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        got.append(kwargs)

    with connected(signals.password_reset_requested, receiver):
        registry.fire_sync("password_reset_requested", user="u", url="U", url_without_token="R")
    assert got == [
        {
            "signal": signals.password_reset_requested,
            "sender": registry,
            "user": "u",
            "url": "U",
            "url_without_token": "R",
            "context": None,  # the bridge's: fired outside a request
        }
    ]


def _interleaving_receivers(log: list[str]) -> tuple[Any, Any]:
    async def slow_a(sender: object, **kwargs: Any) -> None:
        log.append("a start")
        await asyncio.sleep(0.05)
        log.append("a end")

    async def slow_b(sender: object, **kwargs: Any) -> None:
        log.append("b start")
        await asyncio.sleep(0.05)
        log.append("b end")

    return slow_a, slow_b


def test_fire_sync_gathers_async_receivers_concurrently(registry: HookRegistry) -> None:
    log: list[str] = []
    with connected(signals.user_logged_in, *_interleaving_receivers(log)):
        registry.fire_sync("user_logged_in", user="u")
    # Both started before either finished: they ran concurrently, not in turn.
    assert log[:2] == ["a start", "b start"]
    assert sorted(log[2:]) == ["a end", "b end"]


async def test_fire_gathers_async_receivers_concurrently(registry: HookRegistry) -> None:
    log: list[str] = []
    with connected(signals.user_logged_in, *_interleaving_receivers(log)):
        await registry.fire("user_logged_in", user="u")
    assert log[:2] == ["a start", "b start"]


async def test_fire_runs_sync_receivers_in_one_worker_thread_without_blocking_the_loop(
    registry: HookRegistry,
) -> None:
    threads: list[int] = []
    ticks: list[float] = []

    def blocking(sender: object, **kwargs: Any) -> None:
        threads.append(threading.get_ident())
        time.sleep(0.15)

    def another(sender: object, **kwargs: Any) -> None:
        threads.append(threading.get_ident())

    async def ticker(sender: object, **kwargs: Any) -> None:
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    loop_thread = threading.get_ident()
    with connected(signals.user_logged_in, blocking, another, ticker):
        started = time.monotonic()
        await registry.fire("user_logged_in", user="u")
    assert len(set(threads)) == 1
    assert threads[0] != loop_thread
    # The async receiver kept ticking while the sync one slept in its thread.
    assert len(ticks) == 5
    assert ticks[-1] - started < 0.15


async def test_fire_hops_to_a_thread_once_for_many_sync_receivers(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions: list[int] = []
    real_submit = ThreadPoolExecutor.submit

    def counting_submit(self: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> Any:
        submissions.append(1)
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", counting_submit)
    calls: list[tuple[int, int]] = []
    receivers = [
        lambda sender, i=i, **kw: calls.append((i, threading.get_ident())) for i in range(10)
    ]
    with connected(signals.user_logged_in, *receivers):
        await registry.fire("user_logged_in", user="u")
    assert [i for i, _ in calls] == list(range(10))
    assert len({thread for _, thread in calls}) == 1
    assert submissions == [1]


@pytest.mark.django_db(transaction=True)
async def test_sync_receiver_writes_through_the_orm_during_await_fire(
    registry: HookRegistry,
) -> None:
    def write(sender: object, user: str, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="write", detail=user)

    with connected(signals.user_registered, write):
        await registry.fire("user_registered", user="alice")
    assert await Delivery.objects.filter(detail="alice").acount() == 1


async def test_fire_sync_with_a_running_loop_raises_before_any_receiver_runs(
    registry: HookRegistry,
) -> None:
    ran: list[str] = []
    with (
        connected(signals.user_registered, lambda sender, **kw: ran.append("r")),
        pytest.raises(RuntimeError, match=r"await registry\.fire\('user_registered'"),
    ):
        registry.fire_sync("user_registered", user="u")
    assert ran == []


async def test_fire_with_no_receivers_takes_the_fast_path(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: Any) -> Any:
        raise AssertionError("dispatch ran for an event without receivers")

    monkeypatch.setattr("regstack_django.registry.dispatch_async", must_not_run)
    monkeypatch.setattr("regstack_django.registry.dispatch_sync", must_not_run)
    tasks_before = len(asyncio.all_tasks())
    assert await registry.fire("user_deleted", user="u") is None
    assert len(asyncio.all_tasks()) == tasks_before
    assert await asyncio.to_thread(registry.fire_sync, "user_deleted", user="u") is None


async def test_only_async_receivers_never_enter_sync_to_async(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_hop(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("hopped to a thread without a sync receiver")

    monkeypatch.setattr(SyncToAsync, "__call__", must_not_hop)
    got: list[str] = []

    async def receiver(sender: object, **kwargs: Any) -> None:
        got.append("ok")

    with connected(signals.mfa_enabled, receiver):
        await registry.fire("mfa_enabled", user="u")
    assert got == ["ok"]


def test_fire_sync_from_sync_code_inside_async_to_sync_context(registry: HookRegistry) -> None:
    got: list[str] = []

    async def receiver(sender: object, **kwargs: Any) -> None:
        got.append("async")

    def sync_code() -> None:
        registry.fire_sync("mfa_enabled", user="u")

    with connected(signals.mfa_enabled, receiver):
        sync_code()
        async_to_sync(registry.fire)("mfa_enabled", user="u")
    assert got == ["async", "async"]


def test_custom_events_get_one_stable_signal(registry: HookRegistry) -> None:
    assert signal_for("user_registered") is signals.user_registered
    results: list[object] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        results.append(signal_for("my_app_custom_event"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in results}) == 1
    assert signal_for("my_app_custom_event") is results[0]
    got: list[dict[str, Any]] = []
    with connected("my_app_custom_event", lambda sender, **kw: got.append(kw)):
        registry.fire_sync("my_app_custom_event", answer=42)
    assert got[0]["answer"] == 42


def test_signal_for_rejects_a_non_string() -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        signal_for(42)  # type: ignore[arg-type]


def test_on_handlers_are_kwargs_only_strongly_held_and_sync_or_async() -> None:
    registry = HookRegistry()
    got: list[tuple[str, dict[str, Any]]] = []

    def sync_handler(**kwargs: Any) -> None:
        got.append(("sync", kwargs))

    async def async_handler(**kwargs: Any) -> None:
        got.append(("async", kwargs))

    registry.on("custom_on_event", sync_handler)
    registry.on("custom_on_event", async_handler)
    registry.on("custom_on_event", lambda **kwargs: got.append(("lambda", kwargs)))
    del sync_handler, async_handler
    gc.collect()
    registry.fire_sync("custom_on_event", x=1)
    assert got == [("sync", {"x": 1}), ("lambda", {"x": 1}), ("async", {"x": 1})]
    # Only this registry's fires reach its on() handlers.
    got.clear()
    HookRegistry().fire_sync("custom_on_event", x=2)
    assert got == []


def test_on_the_same_handler_twice_runs_it_twice_like_regstack() -> None:
    registry = HookRegistry()
    got: list[int] = []

    def handler(**kwargs: Any) -> None:
        got.append(kwargs["n"])

    registry.on("custom_twice", handler)
    registry.on("custom_twice", handler)
    registry.fire_sync("custom_twice", n=1)
    assert got == [1, 1]


def test_on_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        HookRegistry().on("user_registered", "not.a.callable")  # type: ignore[arg-type]


@pytest.mark.parametrize("reserved", ["sender", "signal"])
def test_an_event_cannot_carry_sender_or_signal(registry: HookRegistry, reserved: str) -> None:
    with (
        connected(signals.user_registered, lambda sender, **kw: None),
        pytest.raises(TypeError, match=f"cannot carry a '{reserved}' argument"),
    ):
        registry.fire_sync("user_registered", **{reserved: 1})


def test_sender_is_the_registry_and_a_custom_sender_can_be_given() -> None:
    marker = object()
    registry = HookRegistry(sender=marker)
    got: list[object] = []
    with connected(signals.user_registered, lambda sender, **kw: got.append(sender)):
        registry.fire_sync("user_registered", user="u")
        HookRegistry().fire_sync("user_registered", user="u")
    assert got[0] is marker
    assert isinstance(got[1], HookRegistry)
