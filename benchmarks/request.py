"""Request-level cost: a real regstack login over ASGI, with and without the bridge.

Four configurations (regstack alone; bridge with 0, 3 empty, 3 real receivers) in interleaved
rounds; the target compares the in-request fire time of C against A.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    SETTINGS,
    Report,
    Target,
    frozen_heap,
    md_table,
    setup_django,
    text_table,
)

EMAIL = "bench@example.com"
PASSWORD = "bench-password-1"

A, B, C, D = (
    "A regstack alone",
    "B bridge, no receivers",
    "C bridge, 3 empty receivers",
    "D bridge, 3 receivers",
)
CONFIGS = (A, B, C, D)

SETTINGS_RECEIVER = "benchmarks.receivers.settings_receiver"
SETTINGS_RECEIVER_EMPTY = "benchmarks.receivers.settings_receiver_empty"


# ----------------------------------------------------------------- the receivers


def orm_write(sender: object, **kwargs: Any) -> None:
    """A sync receiver doing one ORM INSERT (runs in the thread hop)."""
    from benchmarks.projects.records.models import Delivery

    user = kwargs["user"]
    Delivery.objects.create(event="user_logged_in", receiver="orm_write", detail=str(user.id))


NOTIFIED: list[str] = []


async def notify(sender: object, **kwargs: Any) -> None:
    """An async receiver with a little work: it yields once and records the user."""
    await asyncio.sleep(0)
    NOTIFIED.append(str(kwargs["user"].id))
    if len(NOTIFIED) > 1000:
        NOTIFIED.clear()


def orm_write_empty(sender: object, **kwargs: Any) -> None:
    """:func:`orm_write` without its body."""


async def notify_empty(sender: object, **kwargs: Any) -> None:
    """:func:`notify` without its body."""


# ----------------------------------------------------------------- the apps


@dataclass
class Served:
    """One regstack app in process, its client, and its per-login fire times."""

    rs: Any
    client: Any
    fire_ns: list[int] = field(default_factory=list)

    async def login(self) -> None:
        response = await self.client.post(
            "/api/auth/login", json={"email": EMAIL, "password": PASSWORD}
        )
        if response.status_code != 200:
            raise AssertionError(f"login answered {response.status_code}: {response.text}")


def _time_fires(served: Served) -> None:
    """Wrap ``rs.hooks.fire`` (regstack's own, or the bridge's) with a timer."""
    hooks = served.rs.hooks
    inner = hooks.fire
    sink = served.fire_ns

    async def fire(event: str, /, **kwargs: Any) -> None:
        start = time.perf_counter_ns()
        try:
            await inner(event, **kwargs)
        finally:
            sink.append(time.perf_counter_ns() - start)

    hooks.fire = fire


@asynccontextmanager
async def serving(database: Path, *, bridged: bool) -> AsyncIterator[Served]:
    """A tour-built regstack app with its lifespan run, and an httpx client for it."""
    import httpx

    import regstack_django
    from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack

    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{database}?timeout=30"))
    app = build_fastapi_app(rs)
    async with app.router.lifespan_context(app):
        await rs.bootstrap_admin(EMAIL, PASSWORD)
        if bridged:
            regstack_django.attach(rs)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            served = Served(rs, client)
            _time_fires(served)
            yield served


@contextmanager
def configured(config: str) -> Iterator[None]:
    """Connect the receivers of ``config`` for the duration (nothing for A and B)."""
    from django.test import override_settings

    from regstack_django import signals

    if config in (A, B):
        hooks: dict[str, list[str]] = {}
        pair: tuple[Callable[..., Any], ...] = ()
    elif config == C:
        hooks = {"user_logged_in": [SETTINGS_RECEIVER_EMPTY]}
        pair = (orm_write_empty, notify_empty)
    else:
        hooks = {"user_logged_in": [SETTINGS_RECEIVER]}
        pair = (orm_write, notify)
    signal = signals.user_logged_in
    with override_settings(REGSTACK_HOOKS=hooks):
        for receiver in pair:
            signal.connect(receiver, weak=False)
        expected = len(pair) + len(hooks.get("user_logged_in", []))
        if len(signal.receivers) != expected:
            raise AssertionError(f"{config}: {len(signal.receivers)} receivers, not {expected}")
        try:
            yield
        finally:
            for receiver in pair:
                signal.disconnect(receiver)


# ----------------------------------------------------------------- measuring


@dataclass
class RequestResult:
    """Per configuration: request times and in-request fire times (ns), by round."""

    rounds: int
    request_ns: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CONFIGS})
    fire_ns: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CONFIGS})
    cpu_ns: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CONFIGS})
    """Process CPU time (all threads: the loop, the hop's worker, aiosqlite's) per login."""
    deliveries: int = 0
    seconds: float = 0.0


async def _measure(rounds: int, warmup: int, database: Path) -> RequestResult:
    from benchmarks.projects.records.models import Delivery

    result = RequestResult(rounds=rounds)
    async with AsyncExitStack() as stack:
        bare = await stack.enter_async_context(serving(database, bridged=False))
        bridged = await stack.enter_async_context(serving(database, bridged=True))
        apps = {A: bare, B: bridged, C: bridged, D: bridged}
        before = await Delivery.objects.acount()
        for round_number in range(warmup + rounds):
            gc.enable()
            gc.collect()
            shift = round_number % len(CONFIGS)  # rotate the order, as the harness does
            for config in CONFIGS[shift:] + CONFIGS[:shift]:
                served = apps[config]
                with configured(config):
                    gc.disable()
                    try:
                        fired = len(served.fire_ns)
                        cpu_start = time.process_time_ns()
                        start = time.perf_counter_ns()
                        await served.login()
                        elapsed = time.perf_counter_ns() - start
                        cpu = time.process_time_ns() - cpu_start
                    finally:
                        gc.enable()
                if len(served.fire_ns) != fired + 1:
                    raise AssertionError(f"{config}: a login must fire exactly one event")
                if round_number >= warmup:
                    result.request_ns[config].append(elapsed)
                    result.cpu_ns[config].append(cpu)
                    result.fire_ns[config].append(served.fire_ns[-1])
        result.deliveries = await Delivery.objects.acount() - before
    expected = warmup + rounds
    if result.deliveries != expected:
        raise AssertionError(f"D wrote {result.deliveries} rows, expected {expected}")
    return result


def measure(*, rounds: int, warmup: int = 3) -> RequestResult:
    """Log in ``rounds`` times per configuration (after ``warmup`` rounds)."""
    from django.conf import settings

    setup_django(database=True, settings=SETTINGS)
    started = time.perf_counter()
    database = Path(str(settings.DATABASES["default"]["NAME"])).with_name("regstack.sqlite3")
    with frozen_heap():
        result = asyncio.run(_measure(rounds, warmup, database))
    result.seconds = time.perf_counter() - started
    return result


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 4:
        mid = statistics.median(values)
        return mid, mid, mid
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


def report(result: RequestResult) -> Report:
    """Terminal text and Markdown for one run."""
    base_request = statistics.median(result.request_ns[A])
    base_cpu = statistics.median(result.cpu_ns[A])
    base_fire = statistics.median(result.fire_ns[A])
    headers = [
        "configuration",
        "request ms",
        "Δ vs A",
        "Δ p25..p75 ms",
        "CPU ms",
        "CPU Δ vs A",
        "fire µs",
        "fire Δ µs",
        "fire Δ / A's request",
    ]
    rows = []
    fire_delta_pct: dict[str, float] = {}
    request_delta_pct: dict[str, float] = {}
    cpu_delta_pct: dict[str, float] = {}
    for config in CONFIGS:
        req = statistics.median(result.request_ns[config])
        cpu = statistics.median(result.cpu_ns[config])
        fire = statistics.median(result.fire_ns[config])
        paired = [
            (x - y) / 1e6
            for x, y in zip(result.request_ns[config], result.request_ns[A], strict=True)
        ]
        q1, _, q3 = _quartiles(paired)
        fire_delta_pct[config] = (fire - base_fire) / base_request * 100
        request_delta_pct[config] = (req - base_request) / base_request * 100
        cpu_delta_pct[config] = (cpu - base_cpu) / base_cpu * 100
        first = config == A
        rows.append(
            [
                config,
                f"{req / 1e6:.1f}",
                "-"
                if first
                else f"{(req - base_request) / 1e6:+.2f} ms ({request_delta_pct[config]:+.2f}%)",
                "-" if first else f"{q1:+.1f}..{q3:+.1f}",
                f"{cpu / 1e6:.1f}",
                "-" if first else f"{cpu_delta_pct[config]:+.2f}%",
                f"{fire / 1e3:.1f}",
                "-" if first else f"{(fire - base_fire) / 1e3:+.1f}",
                "-" if first else f"{fire_delta_pct[config]:+.3f}%",
            ]
        )
    found = [
        Target(
            "request: bridge cost, excluding receivers' work (C vs A, in-request fire time)",
            fire_delta_pct[C],
            1.0,
            f"end to end: wall {request_delta_pct[C]:+.2f}%, CPU {cpu_delta_pct[C]:+.2f}%",
            unit="%",
        ),
        Target(
            "request: bridge attached, no receivers (B vs A, in-request fire time)",
            fire_delta_pct[B],
            1.0,
            f"end to end: wall {request_delta_pct[B]:+.2f}%, CPU {cpu_delta_pct[B]:+.2f}%",
            unit="%",
        ),
    ]
    title = "Request: one regstack login over ASGI"
    text = "\n".join(
        [
            f"== {title} (median of {result.rounds} interleaved rounds, {result.seconds:.0f} s) ==",
            text_table(headers, rows),
            f"(D's ORM receiver wrote {result.deliveries} rows: one per D login)",
            "",
            "targets (as % of the request; limit 1%):",
            *(f"  {t.line()}" for t in found),
        ]
    )
    markdown = "\n".join(
        [
            f"`POST /api/auth/login` through `httpx.ASGITransport`, median of {result.rounds} "
            f"interleaved rounds (A, B, C, D), {result.seconds:.0f} s in all. A is a regstack "
            "app without the bridge; B-D are a second app on the same database, attached. "
            "*request ms* is wall time and *CPU ms* process CPU time (all threads) per login, "
            "medians; *fire µs* is the time of the login's one "
            '`hooks.fire("user_logged_in")`, timed inside the request. '
            "Δ p25..p75 is the spread of the round-by-round wall differences to A: the argon2 "
            "password check dominates the login and makes end-to-end differences noisy, "
            "more so in wall time on a busy machine.",
            "",
            md_table(headers, rows),
            "",
            "- A: regstack alone. B: bridge attached, no receivers (fast path). "
            "C: a sync, an async and a settings-wired receiver, empty bodies. "
            "D: the same with bodies (a sync ORM INSERT through the thread hop, "
            "`CONN_MAX_AGE=0`; an async receiver; `benchmarks.receivers.settings_receiver`).",
            f"- D's ORM receiver wrote {result.deliveries} rows (one per D login, warm-up "
            "included), checked after the run.",
            "- **What the target compares**: the bridge's own cost is C's in-request fire "
            "time minus A's, as a share of A's median request time. The end-to-end "
            "difference of medians is shown next to it; D - C is the receivers' own work.",
            "",
            md_table(
                ["target", "limit", "measured", "verdict", "detail"],
                [[t.label, "≤ 1%", f"{t.measured:.3f}%", t.verdict, t.detail] for t in found],
            ),
        ]
    )
    return Report(title, text, markdown, found)


def run(*, rounds: int) -> Report:
    """Measure and report."""
    return report(measure(rounds=rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30, help="timed logins per configuration")
    args = parser.parse_args(argv)
    setup_django(database=True, settings=SETTINGS)
    print(run(rounds=args.rounds).text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
