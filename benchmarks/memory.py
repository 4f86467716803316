"""Memory: many fires and many ``ready()`` calls must leave the heap flat (``tracemalloc``).

Async fires, sync fires and ``ready()`` runs, each after its own warm-up; growth per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import SETTINGS, Report, md_table, setup_django, text_table

#: A phase is flat when its *second half* grew by less than this many bytes per
#: operation, or less than :data:`FLAT_FLOOR_BYTES` in all. A leak of even one
#: small object per operation (~50 bytes) grows both halves alike and is far
#: above it; a warm cache or a high-water mark (asyncio's internal buffers, the
#: allocator) shows up in the first half and stays bounded.
FLAT_BYTES_PER_OP = 1.0
FLAT_FLOOR_BYTES = 8192


class _User:
    """Stands in for regstack's user."""

    id = "bench-user"


USER = _User()


def _sync(sender: object, **kwargs: Any) -> None:
    return None


async def _async(sender: object, **kwargs: Any) -> None:
    return None


def _raises(sender: object, **kwargs: Any) -> None:
    raise RuntimeError("benchmark receiver always fails")


FAILURES_SEEN: list[int] = [0]


def _on_failure(sender: object, **kwargs: Any) -> None:
    FAILURES_SEEN[0] += 1


#: event -> receivers connected for the run; ``user_logged_in`` also has the
#: settings-wired ``benchmarks.receivers.settings_receiver``.
MIX: dict[str, tuple[Callable[..., Any], ...]] = {
    "user_logged_in": (_sync, _async),
    "user_registered": (_sync,),
    "password_changed": (_async,),
    "user_logged_out": (),
    "user_deleted": (_raises,),
}
#: The order of one cycle of fires (the failing event is 1 fire in 10).
CYCLE = (
    "user_logged_in",
    "user_registered",
    "password_changed",
    "user_logged_out",
    "user_logged_in",
    "password_changed",
    "user_logged_out",
    "user_registered",
    "user_logged_out",
    "user_deleted",
)


@contextmanager
def connected_mix() -> Iterator[None]:
    """Connect the mix's receivers, and keep the failure log out of the output."""
    from regstack_django import signals

    log = logging.getLogger("regstack_django")
    handler = logging.NullHandler()
    propagate = log.propagate
    log.addHandler(handler)
    log.propagate = False
    signals.receiver_failed.connect(_on_failure, weak=False)
    for event, receivers in MIX.items():
        for receiver in receivers:
            signals.signal_for(event).connect(receiver, weak=False)
    try:
        yield
    finally:
        for event, receivers in MIX.items():
            for receiver in receivers:
                signals.signal_for(event).disconnect(receiver)
        signals.receiver_failed.disconnect(_on_failure)
        log.removeHandler(handler)
        log.propagate = propagate


@dataclass
class Phase:
    """One measured phase: traced bytes before/after and the top growth lines."""

    name: str
    operations: int
    before: int = 0
    middle: int = 0
    after: int = 0
    peak: int = 0
    seconds: float = 0.0
    top: list[str] = field(default_factory=list)

    @property
    def net(self) -> int:
        return self.after - self.before

    @property
    def halves(self) -> tuple[int, int]:
        """Net growth over the first and the second half: a leak grows in both."""
        return self.middle - self.before, self.after - self.middle

    @property
    def per_op(self) -> float:
        return self.net / self.operations

    @property
    def flat(self) -> bool:
        second = self.halves[1]
        second_ops = self.operations - self.operations // 2
        return second < max(FLAT_BYTES_PER_OP * second_ops, FLAT_FLOOR_BYTES)


class _Meter:
    """Before/after snapshots around one phase (the warm-up is done by the caller)."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    def __enter__(self) -> _Meter:
        gc.collect()
        self.snapshot = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        self.phase.before = tracemalloc.get_traced_memory()[0]
        self.started = time.perf_counter()
        return self

    def mark(self) -> None:
        """Half-way through the phase."""
        gc.collect()
        self.phase.middle = tracemalloc.get_traced_memory()[0]

    def __exit__(self, *exc: object) -> None:
        self.phase.seconds = time.perf_counter() - self.started
        gc.collect()
        self.phase.after, self.phase.peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
        ignore = (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
            tracemalloc.Filter(False, __file__),  # the meter's own bookkeeping
        )
        stats = after.filter_traces(ignore).compare_to(
            self.snapshot.filter_traces(ignore), "lineno"
        )
        self.phase.top = [
            f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}: "
            f"{stat.size_diff:+,} B in {stat.count_diff:+} blocks"
            for stat in stats[:5]
            if stat.size_diff > 0
        ]


async def _fire_async(registry: Any, n: int) -> None:
    fire = registry.fire
    for i in range(n):
        await fire(CYCLE[i % len(CYCLE)], user=USER)


def _fire_sync(registry: Any, n: int) -> None:
    fire = registry.fire_sync
    for i in range(n):
        fire(CYCLE[i % len(CYCLE)], user=USER)


def _ready(n: int) -> None:
    from django.apps import apps

    config = apps.get_app_config("regstack_django")
    for _ in range(n):
        config.ready()


@dataclass
class MemoryResult:
    """The three phases and the receiver counts around ``ready()``."""

    phases: list[Phase]
    receivers_before_ready: int
    receivers_after_ready: int
    failures_reported: int
    seconds: float


def measure(*, fires: int, ready_runs: int) -> MemoryResult:
    """Run the three phases under ``tracemalloc``."""
    from regstack_django import get_registry, signals

    started = time.perf_counter()
    registry = get_registry()
    async_fires = fires * 9 // 10
    sync_fires = fires - async_fires
    fire_async = Phase("await fire (mix)", async_fires)
    fire_sync = Phase("fire_sync (mix)", sync_fires)
    ready = Phase("AppConfig.ready()", ready_runs)
    tracemalloc.start()
    try:
        with connected_mix():

            async def async_phase() -> None:
                await _fire_async(registry, max(1000, async_fires // 20))  # warm-up
                with _Meter(fire_async) as meter:
                    await _fire_async(registry, async_fires // 2)
                    meter.mark()
                    await _fire_async(registry, async_fires - async_fires // 2)

            asyncio.run(async_phase())
            _fire_sync(registry, max(100, sync_fires // 20))  # warm-up
            with _Meter(fire_sync) as meter:
                _fire_sync(registry, sync_fires // 2)
                meter.mark()
                _fire_sync(registry, sync_fires - sync_fires // 2)
        failures = FAILURES_SEEN[0]
        receivers_before = len(signals.user_logged_in.receivers)
        _ready(max(10, ready_runs // 20))  # warm-up
        with _Meter(ready) as meter:
            _ready(ready_runs // 2)
            meter.mark()
            _ready(ready_runs - ready_runs // 2)
        receivers_after = len(signals.user_logged_in.receivers)
    finally:
        tracemalloc.stop()
    return MemoryResult(
        [fire_async, fire_sync, ready],
        receivers_before,
        receivers_after,
        failures,
        time.perf_counter() - started,
    )


def report(result: MemoryResult) -> Report:
    """Terminal text and Markdown for one run."""
    headers = [
        "phase",
        "operations",
        "before KiB",
        "after KiB",
        "net bytes",
        "1st half / 2nd half",
        "bytes/op",
        "peak KiB",
        "s",
        "flat",
    ]
    rows = [
        [
            p.name,
            f"{p.operations:,}",
            f"{p.before / 1024:,.1f}",
            f"{p.after / 1024:,.1f}",
            f"{p.net:+,}",
            f"{p.halves[0]:+,} / {p.halves[1]:+,}",
            f"{p.per_op:+.3f}",
            f"{p.peak / 1024:,.1f}",
            f"{p.seconds:.1f}",
            "yes" if p.flat else "NO",
        ]
        for p in result.phases
    ]
    growth: list[str] = []
    for p in result.phases:
        growth.extend(f"{p.name}: {line}" for line in p.top)
    receivers = (
        f"user_logged_in receivers before/after the ready() runs: "
        f"{result.receivers_before_ready}/{result.receivers_after_ready}"
    )
    failures = f"failures reported through receiver_failed: {result.failures_reported:,}"
    verdict = "flat" if all(p.flat for p in result.phases) else "NOT flat"
    title = "Memory"
    text = "\n".join(
        [
            f"== {title} (tracemalloc, {result.seconds:.0f} s): {verdict} ==",
            text_table(headers, rows),
            receivers,
            failures,
            "top growth lines:" if growth else "top growth lines: none",
            *(f"  {line}" for line in growth),
        ]
    )
    markdown = "\n".join(
        [
            f"`tracemalloc` (1 frame), {result.seconds:.0f} s in all. Each phase is warmed up "
            "first (5 % of its operations), then measured from a `gc.collect()` to a "
            "`gc.collect()`, with a mark half-way (a leak grows in both halves; a cache or a "
            "high-water mark only in the first). *flat* means the second half grew by less "
            f"than {FLAT_BYTES_PER_OP:g} byte per operation or {FLAT_FLOOR_BYTES:,} bytes in "
            "all. Fires cycle through: 3 receivers "
            "(sync, async, settings-wired), 1 sync, 1 async, none, and 1 that raises "
            "(1 fire in 10; logged, reported through `receiver_failed`). "
            f"**Verdict: {verdict}.**",
            "",
            md_table(headers, rows),
            "",
            f"- {receivers} (connecting is idempotent).",
            f"- {failures}.",
            "- Top growth lines (positive only, 5 per phase):" + (" none." if not growth else ""),
            *(f"  - `{line}`" for line in growth),
        ]
    )
    return Report(title, text, markdown, [])


def run(*, fires: int, ready_runs: int) -> Report:
    """Measure and report (Django must be set up)."""
    return report(measure(fires=fires, ready_runs=ready_runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fires", type=int, default=100_000, help="fires in all")
    parser.add_argument("--ready-runs", type=int, default=1000, help="ready() calls")
    args = parser.parse_args(argv)
    setup_django(settings=SETTINGS)
    print(run(fires=args.fires, ready_runs=args.ready_runs).text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
