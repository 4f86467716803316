"""The cost of one background enqueue per event (django-tasks-db on SQLite), from async code.

Inline async, inline sync, background and durable receivers side by side, on the testproject's
settings in a throw-away ``TESTPROJECT_VAR_DIR``: ``python -m benchmarks.enqueue``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    REPO_ROOT,
    AsyncOp,
    Series,
    leg_name,
    md_table,
    paired_ratio_quartiles,
    setup_django,
    text_table,
    time_async,
    us,
)
from support.machine import load_average

INLINE_ASYNC = "inline async"
INLINE_SYNC = "inline sync"
BACKGROUND = "background"
DURABLE = "background, durable"
BASELINE = INLINE_ASYNC
#: A handler the background entries name; the queued tasks are never run.
HANDLER_PATH = "testproject.audit.hooks.record_delivery"


@dataclass
class FakeUser:
    """Shaped like regstack's ``BaseUser``: the payload encoder takes its public fields."""

    id: str
    email: str
    hashed_password: str = "$argon2id$v=19$m=65536,t=3,p=4$not-a-real-hash"
    full_name: str | None = "Bench User"
    phone_number: str | None = None
    is_active: bool = True
    is_verified: bool = True
    is_superuser: bool = False
    is_mfa_enabled: bool = False
    created_at: datetime.datetime = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    updated_at: datetime.datetime = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    last_login: datetime.datetime | None = None


USER = FakeUser(id=str(uuid.uuid4()), email="bench@example.com")


def _contenders() -> dict[str, AsyncOp]:
    """One custom event per contender, each with its one receiver connected."""
    from regstack_django import HookRegistry, signals
    from regstack_django.background.enqueue import background_receiver
    from regstack_django.hooks.entries import HandlerSpec

    async def async_noop(sender: object, **kwargs: Any) -> None:
        return None

    def sync_noop(sender: object, **kwargs: Any) -> None:
        return None

    def spec(event: str, durable: bool = False) -> HandlerSpec:
        return HandlerSpec(
            event=event,
            index=0,
            path=HANDLER_PATH,
            handler=sync_noop,
            is_async=False,
            background=True,
            durable=durable,
        )

    receivers = {
        INLINE_ASYNC: async_noop,
        INLINE_SYNC: sync_noop,
        BACKGROUND: background_receiver(spec("bench_enqueue_background")),
        DURABLE: background_receiver(spec("bench_enqueue_durable", durable=True)),
    }
    registry = HookRegistry()
    ops: dict[str, AsyncOp] = {}
    for name, receiver in receivers.items():
        event = "bench_enqueue_" + name.replace(" ", "_").replace(",", "")
        signals.signal_for(event).connect(receiver, weak=False)
        ops[name] = _firing(registry, event)
    return ops


def _firing(registry: Any, event: str) -> AsyncOp:
    fire = registry.fire

    async def op(n: int) -> None:
        for _ in range(n):
            await fire(event, user=USER)

    return op


def _queued_rows() -> int:
    from django_tasks_db.models import DBTaskResult

    from regstack_django.models import OutboxEvent

    return DBTaskResult.objects.count() + OutboxEvent.objects.count()


def measure(rounds: int, warmup: int, target_ms: float) -> dict[str, Series]:
    async def run() -> dict[str, Series]:
        return await time_async(_contenders(), rounds=rounds, warmup=warmup, target_ms=target_ms)

    return asyncio.run(run())


def report(series: dict[str, Series], rounds: int, rows: int, seconds: float) -> tuple[str, str]:
    """The terminal table and the same as Markdown (what ``docs/background.md`` quotes)."""
    headers = ["one fire, one receiver", "wall µs", "CPU µs", f"wall / {BASELINE} (p25-p75)"]
    base = series[BASELINE]
    table = []
    for name, s in series.items():
        q1, q2, q3 = paired_ratio_quartiles(s, base)
        table.append([name, us(s.median_ns), us(s.cpu_median_ns), f"{q2:.1f}x ({q1:.1f}-{q3:.1f})"])
    d1, d2, d3 = paired_ratio_quartiles(series[DURABLE], series[BACKGROUND])
    note = (
        f"{DURABLE} / {BACKGROUND} (paired, in-request cost): {d2:.2f}x ({d1:.2f}-{d3:.2f}); "
        f"{leg_name()}; median of {rounds} interleaved rounds; {rows} tasks and outbox rows "
        f"queued; load {load_average()}; {seconds:.1f}s"
    )
    return (
        text_table(headers, table) + "\n" + note,
        md_table(headers, table) + "\n\n" + note,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="timed rounds (default 21)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--target-ms", type=float, default=150.0, help="one batch lasts ~this")
    parser.add_argument("--markdown", action="store_true", help="print the Markdown table too")
    parser.add_argument(
        "--tmp",
        help="where the temporary database goes (default: the system's; try /dev/shm "
        "to take the disk's fsync out of the figure)",
    )
    parser.add_argument("--smoke", action="store_true", help="two short rounds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.warmup, args.target_ms = 2, 0, 5.0

    var_dir = Path(tempfile.mkdtemp(prefix="regstack-enqueue-bench-", dir=args.tmp))
    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    os.environ["TESTPROJECT_VAR_DIR"] = str(var_dir)
    os.environ.pop("TESTPROJECT_DELIVERY_PROBE", None)
    try:
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        setup_django(database=True)
        started = time.perf_counter()
        series = measure(args.rounds, args.warmup, args.target_ms)
        text, markdown = report(series, args.rounds, _queued_rows(), time.perf_counter() - started)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    print(f"SQLite database in {var_dir} (removed)")
    print(text)
    if args.markdown:
        print()
        print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
