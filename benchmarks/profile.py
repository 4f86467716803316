"""Where one fire's time goes: its building blocks, each timed alone with the same harness.

cProfile's per-call overhead is as large as the parts, so the parts are timed one by one.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import (
    SETTINGS,
    AsyncOp,
    Report,
    Series,
    SyncOp,
    frozen_heap,
    md_table,
    setup_django,
    text_table,
    time_async,
    time_sync,
    us,
)


def _nothing() -> None:
    return None


async def _anothing() -> None:
    return None


def _receiver(sender: object, **kwargs: Any) -> None:
    return None


@dataclass
class Part:
    """One building block: its label, what it is part of, and its timing."""

    label: str
    role: str
    series: Series | None = None


@dataclass
class ProfileResult:
    """The parts, by key."""

    rounds: int
    parts: dict[str, Part] = field(default_factory=dict)
    seconds: float = 0.0

    def us(self, key: str) -> float:
        series = self.parts[key].series
        if series is None:  # pragma: no cover - every part is measured
            raise KeyError(key)
        return series.median_ns / 1000


PARTS: dict[str, tuple[str, str]] = {
    "await_empty": ("`await` of an empty coroutine", "floor of every async fire"),
    "task_1": (
        "`await loop.create_task(coro)` (one task)",
        "what each extra task of a fire costs",
    ),
    "gather_1": (
        "`await asyncio.gather(coro)` (one coroutine)",
        "Django (always) and regstack (async handlers) wrap receivers in tasks",
    ),
    "ours_0_known": ("ours, `await fire`, 0 receivers, known event", "our fast path"),
    "ours_0_custom": (
        "ours, `await fire`, 0 receivers, custom event name",
        "the same lookup for a name regstack never fires (custom events)",
    ),
    "django_0": ("Django `asend_robust`, 0 receivers", "Django's fast path"),
    "regstack_0": ("regstack `fire`, 0 handlers", "regstack's fast path"),
    "hop": ("bare hop: `await sync_to_async(f, thread_sensitive=True)()`", "the floor"),
    "hop_hygiene": (
        "hop running `close_stale_connections()` twice, no connection open",
        "what our hop carries besides the receivers",
    ),
    "close_stale": (
        "`close_stale_connections()` in the hop's thread, no connection open",
        "run twice per hop by ours",
    ),
    "close_stale_open": (
        "`close_stale_connections()` in the hop's thread, a persistent connection open",
        "the same once a sync receiver used the ORM (`CONN_MAX_AGE=None`)",
    ),
    "make_s2a": (
        "`sync_to_async(f)` construction",
        "Django builds one per `asend_robust` with sync receivers; ours is built once",
    ),
    "sync_group_1": (
        "our loop calling 1 empty sync receiver (`_run_sync_group`)",
        "the receivers' calls inside our hop",
    ),
    "sync_group_10": (
        "our loop calling 10 empty sync receivers (`_run_sync_group`)",
        "the same for 10",
    ),
    "live_1": ("`Signal._live_receivers(sender)`, 1 receiver", "both ours and Django"),
    "live_10": ("`Signal._live_receivers(sender)`, 10 receivers", "both ours and Django"),
    "a2s": (
        "`async_to_sync(coro_fn)()` from sync code",
        "floor for async receivers fired from sync code (a new loop and thread)",
    ),
}


async def _async_parts(result: ProfileResult, rounds: int, target_ms: float) -> None:
    from asgiref.sync import sync_to_async
    from django.dispatch import Signal
    from regstack.hooks.events import HookRegistry as RegstackRegistry

    from regstack_django import HookRegistry, signals
    from regstack_django.pool.connections import close_stale_connections

    ours = HookRegistry()
    plain = Signal()
    rs = RegstackRegistry()
    known = "user_verified"
    if signals.signal_for(known).receivers:
        raise RuntimeError(f"{known!r} has receivers; the fast-path part would be wrong")
    custom = "benchmark_profile_custom_event"
    user = object()
    hop = sync_to_async(_nothing, thread_sensitive=True)

    def two_checks() -> None:
        close_stale_connections()
        close_stale_connections()

    hop_hygiene = sync_to_async(two_checks, thread_sensitive=True)

    def loop(make: Callable[[], Any]) -> AsyncOp:
        async def op(n: int) -> None:
            for _ in range(n):
                await make()

        return op

    ops: dict[str, AsyncOp] = {
        "await_empty": loop(_anothing),
        "task_1": loop(lambda: asyncio.get_running_loop().create_task(_anothing())),
        "gather_1": loop(lambda: asyncio.gather(_anothing())),
        "ours_0_known": loop(lambda: ours.fire(known, user=user)),
        "ours_0_custom": loop(lambda: ours.fire(custom, user=user)),
        "django_0": loop(lambda: plain.asend_robust(ours, user=user)),
        "regstack_0": loop(lambda: rs.fire(known, user=user)),
    }
    fast = await time_async(ops, rounds=rounds, warmup=3, target_ms=target_ms)
    hops = await time_async(
        {"hop": loop(hop), "hop_hygiene": loop(hop_hygiene)},
        rounds=rounds,
        warmup=3,
        target_ms=target_ms,
    )
    in_worker = sync_to_async(_connection_parts, thread_sensitive=True)
    checks = await in_worker(rounds, target_ms)
    for key, series in {**fast, **hops, **checks}.items():
        result.parts[key].series = series


def _connection_parts(rounds: int, target_ms: float) -> dict[str, Series]:
    """Our connection check, timed in the thread the hop runs in (call it there).

    Without a connection, then with a persistent one open (``CONN_MAX_AGE=None``
    for the duration), as after a sync receiver's first query.
    """
    from django.db import connections

    from regstack_django.pool.connections import close_stale_connections

    def op(n: int) -> None:
        for _ in range(n):
            close_stale_connections()

    connection = connections["default"]
    connection.close()
    found = time_sync({"close_stale": op}, rounds=rounds, warmup=3, target_ms=target_ms)
    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = None
    try:
        connection.ensure_connection()
        found["close_stale_open"] = time_sync(
            {"close_stale_open": op}, rounds=rounds, warmup=3, target_ms=target_ms
        )["close_stale_open"]
        if connection.connection is None:
            raise AssertionError("the persistent connection was closed during the part")
    finally:
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = max_age
    return found


def _sync_parts(result: ProfileResult, rounds: int, target_ms: float) -> None:
    from asgiref.sync import async_to_sync, sync_to_async
    from django.dispatch import Signal

    one, ten = Signal(), Signal()
    one.connect(_receiver, weak=False)
    receivers = []
    for _ in range(10):

        def receiver(sender: object, **kwargs: Any) -> None:
            return None

        receivers.append(receiver)
        ten.connect(receiver, weak=False)
    sender = object()

    def loop(call: Callable[[], Any]) -> SyncOp:
        def op(n: int) -> None:
            for _ in range(n):
                call()

        return op

    from regstack_django.hooks import dispatch

    run_group = dispatch._run_sync_group
    kwargs = {"user": sender}
    fire_one = dispatch.Fire(one, sender, "e", kwargs)
    fire_ten = dispatch.Fire(ten, sender, "e", kwargs)

    ops: dict[str, SyncOp] = {
        "sync_group_1": loop(lambda: run_group(fire_one, [_receiver])),
        "sync_group_10": loop(lambda: run_group(fire_ten, receivers)),
        "make_s2a": loop(lambda: sync_to_async(_nothing)),
        "live_1": loop(lambda: one._live_receivers(sender)),
        "live_10": loop(lambda: ten._live_receivers(sender)),
    }
    for key, series in time_sync(ops, rounds=rounds, warmup=3, target_ms=target_ms).items():
        result.parts[key].series = series
    a2s = async_to_sync(_anothing)
    result.parts["a2s"].series = time_sync(
        {"a2s": loop(a2s)}, rounds=max(5, rounds // 2), warmup=2, target_ms=target_ms
    )["a2s"]


def measure(*, rounds: int, target_ms: float = 1.0) -> ProfileResult:
    """Time every part (Django must be set up, with its database)."""
    started = time.perf_counter()
    result = ProfileResult(rounds=rounds)
    result.parts = {key: Part(label, role) for key, (label, role) in PARTS.items()}
    with frozen_heap():
        asyncio.run(_async_parts(result, rounds, target_ms))
        _sync_parts(result, rounds, target_ms)
    result.seconds = time.perf_counter() - started
    return result


def report(result: ProfileResult) -> Report:
    """The parts as a table (the dispatch report explains the misses with them)."""
    headers = ["part", "µs (median)", "CPU µs", "role"]
    rows = []
    for part in result.parts.values():
        assert part.series is not None  # measure() fills every part
        rows.append(
            [part.label, us(part.series.median_ns), us(part.series.cpu_median_ns), part.role]
        )
    title = "Profile: the parts of a fire"
    text = "\n".join(
        [
            f"== {title} (median of {result.rounds} rounds, {result.seconds:.0f} s) ==",
            text_table(headers[:3], [r[:3] for r in rows]),
        ]
    )
    markdown = "\n".join(
        [
            f"Each part timed alone with the same harness (median of {result.rounds} "
            f"interleaved rounds, {result.seconds:.0f} s); *CPU µs* is process CPU time "
            "(all threads) for the same batches, which a busy machine inflates far less "
            "than wall time.",
            "",
            md_table(headers, rows),
        ]
    )
    return Report(title, text, markdown, [])


def run(*, rounds: int, target_ms: float = 1.0) -> tuple[Report, ProfileResult]:
    """Measure and report (Django must be set up, with its database)."""
    result = measure(rounds=rounds, target_ms=target_ms)
    return report(result), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per part")
    parser.add_argument("--target-ms", type=float, default=1.0, help="length of one timed batch")
    args = parser.parse_args(argv)
    setup_django(database=True, settings=SETTINGS)
    print(run(rounds=args.rounds, target_ms=args.target_ms)[0].text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
