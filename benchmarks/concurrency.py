"""Many fires at once through ours, Django's ``asend_robust`` and regstack's ``fire``.

In process (a sync receiver of 0/5/50 ms, a hung receiver) and over HTTP (concurrent logins with a
slow receiver); ``--write-doc`` writes the "Concurrency" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import math
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    REPO_ROOT,
    SETTINGS,
    leg_name,
    md_table,
    setup_django,
    text_table,
)
from support.machine import load_average

OURS, DJANGO, REGSTACK = "ours", "Django asend_robust", "regstack fire"
CONTENDERS = (OURS, DJANGO, REGSTACK)
DOC = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = re.compile(r"<!-- section: concurrency -->\n.*?<!-- /section -->\n", re.DOTALL)
TICK = 0.001
HTTP_SETTINGS = "benchmarks.projects.http"


@dataclasses.dataclass
class Batch:
    wall: float
    latencies: list[float]
    stall: float


@dataclasses.dataclass
class Cell:
    batches: list[Batch] = dataclasses.field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(b.wall for b in self.batches)

    def quantile(self, q: float) -> float:
        values = sorted(v for b in self.batches for v in b.latencies)
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]

    @property
    def stall(self) -> float:
        """The median over batches of each batch's worst gap (one preempted batch on a
        busy machine must not decide the figure)."""
        return statistics.median(b.stall for b in self.batches)

    @property
    def worst_stall(self) -> float:
        return max(b.stall for b in self.batches)


async def idle_stall(rounds: int) -> float:
    """The same ticker with nothing else to do: the floor the machine's load sets."""

    async def nothing() -> None:
        await asyncio.sleep(0.05)

    return statistics.median([(await _batch(nothing, 1)).stall for _ in range(rounds)])


async def _ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        gaps.append(now - last - TICK)
        last = now


async def _batch(fire: Callable[[], Awaitable[None]], n: int) -> Batch:
    stop = asyncio.Event()
    gaps: list[float] = []
    ticker = asyncio.ensure_future(_ticker(stop, gaps))
    await asyncio.sleep(TICK * 3)  # the ticker runs before the batch starts
    latencies: list[float] = []
    started = time.perf_counter()

    async def one() -> None:
        await fire()
        latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - started
    await asyncio.sleep(TICK * 3)  # the tick that ends the worst gap is counted
    stop.set()
    await ticker
    return Batch(wall, latencies, max(gaps, default=0.0))


def _contenders(event: str, ms: float) -> dict[str, Callable[[], Awaitable[None]]]:
    from django.dispatch import Signal
    from regstack.hooks.events import HookRegistry as RegstackRegistry

    from regstack_django import HookRegistry, signals

    seconds = ms / 1000

    def receiver(sender: object, **kwargs: Any) -> None:
        if seconds:
            time.sleep(seconds)

    def handler(**kwargs: Any) -> None:
        if seconds:
            time.sleep(seconds)

    ours, plain, theirs = HookRegistry(), Signal(), RegstackRegistry()
    signal = signals.signal_for(event)
    signal.receivers.clear()  # each cell: exactly one receiver
    signal.sender_receivers_cache.clear()
    signal.connect(receiver, weak=False)
    plain.connect(receiver, weak=False)
    theirs.on(event, handler)
    user = object()

    async def fire_ours() -> None:
        await ours.fire(event, user=user)

    async def fire_django() -> None:
        await plain.asend_robust(None, user=user)

    async def fire_regstack() -> None:
        await theirs.fire(event, user=user)

    return {OURS: fire_ours, DJANGO: fire_django, REGSTACK: fire_regstack}


async def measure_grid(
    sizes: tuple[int, ...], delays: tuple[float, ...], rounds: int
) -> dict[tuple[int, float, str], Cell]:
    cells: dict[tuple[int, float, str], Cell] = {}
    for ms in delays:
        fires = _contenders("user_logged_in", ms)
        for n in sizes:
            for name in CONTENDERS:  # warm-up: threads started, imports done
                await _batch(fires[name], min(n, 20))
            for r in range(rounds):
                order = CONTENDERS[r % 3 :] + CONTENDERS[: r % 3]
                for name in order:
                    gc.collect()
                    cells.setdefault((n, ms, name), Cell()).batches.append(
                        await _batch(fires[name], n)
                    )
            print(f"  measured N={n} x {ms:g} ms", flush=True)
    return cells


async def measure_hung(workers: int, fires: int) -> list[tuple[int, float, float]]:
    """(hung receivers, p50 ms, max ms) of sequential fires of another event."""
    from regstack_django import HookRegistry, signals

    release = threading.Event()

    def hung(sender: object, **kwargs: Any) -> None:
        release.wait(60)

    def quick(sender: object, **kwargs: Any) -> None:
        time.sleep(0.005)

    registry = HookRegistry()
    a, b = signals.signal_for("user_logged_out"), signals.signal_for("user_registered")
    a.connect(hung, weak=False)
    b.connect(quick, weak=False)
    rows = []
    stuck: list[asyncio.Future[None]] = []
    try:
        for k in sorted({0, 1, workers - 1}):
            while len(stuck) < k:
                stuck.append(asyncio.ensure_future(registry.fire("user_logged_out", user=1)))
            await asyncio.sleep(0.05)
            times = []
            for _ in range(fires):
                started = time.perf_counter()
                await registry.fire("user_registered", user=1)
                times.append(time.perf_counter() - started)
            rows.append((k, statistics.median(times) * 1000, max(times) * 1000))
            print(f"  measured {k} hung", flush=True)
    finally:
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck), 30)
        a.disconnect(hung)
        b.disconnect(quick)
    return rows


# --------------------------------------------------------------------------- HTTP


@dataclasses.dataclass
class HttpRun:
    label: str
    seconds: float | None
    timeout: float | None
    latencies: list[float] = dataclasses.field(default_factory=list)
    statuses: list[int | None] = dataclasses.field(default_factory=list)


async def _logins(
    base_url: str, logins: int, settle: float
) -> tuple[list[float], list[int | None]]:
    import httpx

    from benchmarks.load.runs import API_PREFIX, PASSWORD

    emails = [f"c{i}@example.com" for i in range(logins)]
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60) as client:
        for email in emails:  # one by one: registering is not what is measured
            body = {"email": email, "password": PASSWORD}
            await client.post(f"{API_PREFIX}/register", json=body)
        # One warm-up login (first-use costs), then all at once, once the warm-up's
        # slow receiver is done: it holds its worker until then.
        await client.post(f"{API_PREFIX}/login", json={"email": emails[0], "password": PASSWORD})
        await asyncio.sleep(settle)

        async def login(email: str) -> tuple[float, int | None]:
            started = time.perf_counter()
            try:
                response = await client.post(
                    f"{API_PREFIX}/login", json={"email": email, "password": PASSWORD}
                )
                status: int | None = response.status_code
            except httpx.HTTPError:
                status = None
            return time.perf_counter() - started, status

        results = await asyncio.gather(*(login(e) for e in emails))
    return [r[0] for r in results], [r[1] for r in results]


def measure_http(logins: int, *, smoke: bool = False) -> list[HttpRun]:
    """Time ``logins`` concurrent logins per server configuration (smoke: two of them)."""
    from benchmarks.load import server as load

    runs = [
        HttpRun("no slow receiver (baseline)", None, None),
        HttpRun("1 s sync receiver", 1.0, None),
        HttpRun('1 s sync receiver, "timeout": 0.2', 1.0, 0.2),
        HttpRun('5 s sync receiver, "timeout": 1', 5.0, 1.0),
    ]
    if smoke:
        runs = [runs[0], runs[2]]
    for run in runs:
        with tempfile.TemporaryDirectory(prefix="regstack_django_concurrency_") as tmp:
            var_dir = Path(tmp)
            env_extra = {"BENCH_CHEAP_ARGON2": "1"}
            if run.seconds is not None:
                env_extra["BENCH_LOGIN_RECEIVER_SECONDS"] = str(run.seconds)
            if run.timeout is not None:
                env_extra["BENCH_LOGIN_RECEIVER_TIMEOUT"] = str(run.timeout)
            server = load.served(HTTP_SETTINGS, var_dir, var_dir / "log", 60, env_extra)
            with server as (base_url, _process):
                run.latencies, run.statuses = asyncio.run(
                    asyncio.wait_for(_logins(base_url, logins, (run.seconds or 0) + 0.5), 300)
                )
        print(f"  measured HTTP: {run.label}", flush=True)
    return runs


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def grid_rows(
    cells: dict[tuple[int, float, str], Cell], sizes: tuple[int, ...], delays: tuple[float, ...]
) -> list[list[str]]:
    rows = []
    for ms in delays:
        for n in sizes:
            if (n, ms, OURS) not in cells:
                continue
            row = [f"{n} x {ms:g} ms"]
            for name in CONTENDERS:
                cell = cells[(n, ms, name)]
                row += [_ms(cell.wall), _ms(cell.quantile(0.5)), _ms(cell.quantile(0.99))]
                row.append(_ms(cell.stall))
            rows.append(row)
    return rows


GRID_HEADERS = ["fires x receiver"] + [
    f"{short} {what}"
    for short in ("ours", "Django", "regstack")
    for what in ("wall ms", "p50 ms", "p99 ms", "stall ms")
]


def targets(
    cells: dict[tuple[int, float, str], Cell],
    hung: list[tuple[int, float, float]],
    http: list[HttpRun],
) -> list[tuple[str, str, str, str]]:
    """(target, limit, measured, verdict) for the issue's measurable targets."""

    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    found = []
    cell = cells.get((20, 50.0, OURS))
    if cell is not None:
        found.append(
            ("20 fires x 50 ms sync receiver: batch wall", "≤ 150 ms", _ms(cell.wall),
             verdict(cell.wall <= 0.150))
        )  # fmt: skip
        found.append(
            ("20 fires x 50 ms: worst event-loop stall", "≤ 5 ms", _ms(cell.stall),
             verdict(cell.stall <= 0.005))
        )  # fmt: skip
    if hung:
        base, worst = hung[0][1], max(h[1] for h in hung)
        found.append(
            (f"event B p50 with up to {hung[-1][0]} receivers of event A hung, vs none",
             "≤ 2x", f"{worst / base:.2f}x", verdict(worst <= 2 * base))
        )  # fmt: skip
    baseline = next((r for r in http if r.seconds is None and r.latencies), None)
    target = next((r for r in http if r.seconds == 5.0 and r.latencies), None)
    if baseline and target:
        extra = max(_rank_extra(target, baseline))
        found.append(
            ('20 logins, 5 s receiver, "timeout": 1: most any login took beyond its own work',
             "≤ 1.5 s", f"{extra:.2f} s", verdict(extra <= 1.5))
        )  # fmt: skip
    return found


def _rank_extra(run: HttpRun, baseline: HttpRun) -> list[float]:
    """Each login's time minus the baseline login of the same rank (its own work)."""
    return [a - b for a, b in zip(sorted(run.latencies), sorted(baseline.latencies), strict=False)]


def http_rows(http: list[HttpRun]) -> list[list[str]]:
    baseline = next((r for r in http if r.seconds is None and r.latencies), None)
    base = statistics.median(baseline.latencies) if baseline else float("nan")
    rows = []
    for run in http:
        if not run.latencies:
            continue
        ok = sum(1 for s in run.statuses if s == 200)
        lat = sorted(run.latencies)
        extra = _rank_extra(run, baseline) if baseline else [float("nan")]
        rows.append(
            [
                run.label,
                f"{ok}/{len(run.statuses)}",
                f"{statistics.median(lat):.2f}",
                f"{lat[-1]:.2f}",
                f"{statistics.median(lat) - base:+.2f}",
                f"{max(extra):+.2f}",
            ]
        )
    return rows


HTTP_HEADERS = [
    "configuration",
    "200s",
    "login p50 s",
    "slowest s",
    "p50 - baseline p50 s",
    "most added to one login s",
]


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """How the section's figures were taken: the command, when, how long, the load."""

    command: str
    when: str
    seconds: float
    loads: tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Measured:
    """What one run measured, as the section shows it."""

    floor: float
    workers: int
    grid: list[list[str]]
    hung: list[tuple[int, float, float]]
    http: list[HttpRun]
    verdicts: list[tuple[str, str, str, str]]


def section(run: RunInfo, measured: Measured) -> str:
    """Return the "Concurrency" section of docs/benchmarks.md."""
    lines = [
        "<!-- section: concurrency -->",
        "## Concurrency",
        "",
        f"`{run.command}`, {run.when}, {leg_name()}, {run.seconds:.0f} s. Load average "
        f"(1/5/15 min) before: {run.loads[0]}, after: {run.loads[1]}. Written by "
        "`benchmarks/concurrency.py`.",
        "",
        "Fires from async code with no Django request context (regstack's FastAPI routes), "
        f"default settings (`REGSTACK_HOOKS_WORKERS = {measured.workers}`). Each fire has one sync "
        "receiver that blocks for the time shown; N fires start at once. *wall*: the batch; "
        "*p50/p99*: each fire, from the batch start to its return; *stall*: the longest the "
        "event loop could run nothing else (a 1 ms ticker's worst gap, median over the "
        "batches). On this machine at this load the same ticker alone shows "
        f"{_ms(measured.floor)} ms: the floor no contender can go under.",
        "",
        md_table(["target", "limit", "measured", "verdict"], [list(v) for v in measured.verdicts]),
        "",
        md_table(GRID_HEADERS, measured.grid),
        "",
        "- ours: each fire leases one of the bridge's worker threads; 20 fires run side by "
        "side, 100 fires in five waves of 20. Django's `asend_robust` hops every fire to "
        "asgiref's one process-wide thread, so the fires run one after another (the loop "
        "stays free). regstack runs its sync handlers inline on the event loop: serial *and* "
        "the loop is blocked for the whole batch.",
        "",
        "**What runs where, and what each wait costs** (the README's dispatch table has "
        "the rules):",
        "",
        "- outside a Django request (this table): each fire leases one worker thread for its "
        "whole duration; its sync receivers run there in one hop (one thread hop, about "
        "as costly as a bare `sync_to_async`: see the single-fire tables below), its async "
        "receivers' own `sync_to_async` calls too. A fire waits for a free worker only "
        "when all are busy, at most `REGSTACK_HOOKS_WORKER_WAIT` (3 s); after that its "
        "sync receivers fail as timed out and it returns;",
        "- a receiver with a `timeout` costs the fire at most that budget (sync or async); "
        "past it the receiver keeps its worker until it returns, which is what the hung "
        "table below measures for the other fires;",
        "- inside a Django request or below `async_to_sync`, the hop goes to the caller's "
        "own thread, as Django does: the caller waits for every sync receiver.",
        "",
    ]
    lines += _hung_lines(measured)
    if measured.http:
        lines += _http_lines(measured)
    lines.append("<!-- /section -->")
    return "\n".join(lines) + "\n"


def _hung_lines(measured: Measured) -> list[str]:
    return [
        "**A hung receiver.** k sync receivers of `user_logged_out` blocked for good (each "
        "holds one worker), then fires of `user_registered` (one 5 ms sync receiver) one "
        "after another:",
        "",
        md_table(
            ["hung receivers of A", "B p50 ms", "B max ms"],
            [[str(k), f"{p50:.1f}", f"{worst:.1f}"] for k, p50, worst in measured.hung],
        ),
        "",
    ]


def _http_lines(measured: Measured) -> list[str]:
    return [
        "**Over HTTP.** The testproject under uvicorn (127.0.0.1, one worker process), "
        "20 users registered, then 20 concurrent `POST /api/auth/login`. regstack "
        "hashes passwords with argon2 on its event loop (~100 ms of CPU per login at "
        "its defaults, far more on a busy machine), which would drown the receivers' "
        "cost: this server uses cheap argon2 parameters (`benchmarks/projects/http.py`). "
        "The baseline is the same logins with no slow receiver; the last two columns "
        "are what the slow receiver added: the medians' difference, and the largest "
        "difference between a login and the baseline login of the same rank (sorted "
        "by time), i.e. beyond that login's own work.",
        "",
        md_table(HTTP_HEADERS, http_rows(measured.http)),
        "",
        "- Without a timeout every login waits for its own 1 s receiver, but only its "
        "own: the 20 run on 20 workers side by side (on asgiref's one shared thread, "
        "as issue 13 measured before the pool, they finished one receiver apart). "
        "With a timeout the login returns at the budget, the receiver "
        "is logged as timed out and finishes on its worker.",
        "",
    ]


def write_doc(text: str, path: Path = DOC) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if SECTION.search(current):
        updated = SECTION.sub(lambda _m: text, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency")
    parser.add_argument("--rounds", type=int, default=5, help="batches per contender and cell")
    parser.add_argument("--sizes", default="1,20,100", help="concurrent fires per batch")
    parser.add_argument("--delays", default="0,5,50", help="the sync receiver's ms")
    parser.add_argument("--hung-fires", type=int, default=50, help="fires of B per hung count")
    parser.add_argument("--logins", type=int, default=20, help="HTTP: concurrent logins")
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn part")
    parser.add_argument("--http-only", action="store_true", help="only the uvicorn part")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="a few fires and logins, no doc")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke and args.write_doc:
        parser.error("--smoke writes no doc")
    if args.smoke:
        args.rounds, args.sizes, args.delays, args.hung_fires, args.logins = 1, "1,20", "0,5", 3, 2
    sizes = tuple(int(s) for s in args.sizes.split(","))
    delays = tuple(float(d) for d in args.delays.split(","))

    setup_django(database=True, settings=SETTINGS)
    from regstack_django.pool.process import get_pool

    workers = get_pool().size
    started = time.perf_counter()
    loads = (load_average(), "")
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"concurrency benchmark, {leg_name()}, load {loads[0]}", flush=True)
    floor = 0.0 if args.http_only else asyncio.run(idle_stall(max(5, args.rounds)))
    cells = {} if args.http_only else asyncio.run(measure_grid(sizes, delays, args.rounds))
    hung = [] if args.http_only else asyncio.run(measure_hung(workers, args.hung_fires))
    http = [] if args.no_http else measure_http(args.logins, smoke=args.smoke)
    seconds = time.perf_counter() - started
    loads = (loads[0], load_average())
    grid = grid_rows(cells, sizes, delays)
    verdicts = targets(cells, hung, http)
    if grid:
        print()
        print(text_table(GRID_HEADERS, grid))
    if hung:
        print()
        hung_rows = [[str(k), f"{p:.1f}", f"{m:.1f}"] for k, p, m in hung]
        print(text_table(["hung", "B p50 ms", "B max ms"], hung_rows))
    if http:
        print()
        print(text_table(HTTP_HEADERS, http_rows(http)))
    print()
    print(f"  idle ticker (the stall floor): {_ms(floor)} ms")
    for label, limit, shown, verdict in verdicts:
        print(f"  {verdict:6} {label}: {shown} (limit {limit})")
    if args.write_doc:
        command = " ".join(["python -m benchmarks.concurrency", *(argv or sys.argv[1:])])
        write_doc(
            section(
                RunInfo(command, when, seconds, loads),
                Measured(floor, workers, grid, hung, http, verdicts),
            )
        )
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
