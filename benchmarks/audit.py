"""A login's cost with the audit app and with OpenTelemetry: a real regstack login over ASGI.

Interleaved rounds in one process, 1 and 10 logins in flight; ``--write-doc`` writes the
"Audit log and OpenTelemetry" section of docs/benchmarks.md, ``--smoke`` runs a few rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import importlib.util
import re
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO_ROOT, frozen_heap, leg_name, md_table, setup_django, text_table
from support.machine import cpu_model, load_average

SETTINGS = "benchmarks.projects.audit"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = re.compile(r"<!-- section: audit -->\n.*?<!-- /section -->\n", re.DOTALL)
TITLE = "Audit log and OpenTelemetry: the login"
EMAIL = "audit-bench@example.com"
PASSWORD = "audit-bench-password-1"
A, B = "A bridge, no audit app", "B + regstack_django.audit"
C = "C B, but the row committed in the request"
D, E = "D A + OpenTelemetry", "E B + OpenTelemetry"
CONFIGS = (A, B, C, D, E)
AUDITED, TRACED = (B, C, E), (D, E)
#: Logins in flight (``asyncio.gather``); C, a design the app does not use, runs at 1 only.
#: ``--smoke`` runs 3 at once instead of 10 (the same code, a third of the time).
LEVELS = (1, 10)
#: The audit write's share of A's login, at most (in-request fire time, B minus A).
LIMIT_PCT = 2.0
MIDDLEWARE_SCOPE = "opentelemetry.instrumentation.asgi"
SPLIT = (
    " The fire span was in FastAPI's server span's trace, not the middleware's: the app is the "
    "tour's own FastAPI app wrapped from outside, not the bridge's site (which hands the "
    "middleware's span to FastAPI), and FastAPI's span continues only an incoming "
    "`traceparent` (none here), so it starts a trace of its own; an app of one's own adds the "
    "middleware inside FastAPI instead ([tracing.md](tracing.md#the-requests-trace))."
)
SDK_MISSING = (
    "D and E left out: OpenTelemetry's SDK or opentelemetry-instrumentation-asgi is not "
    "installed (the 'otel' dependency group has them)"
)


def sdk_installed() -> bool:
    """Return whether OpenTelemetry's SDK and its ASGI middleware can be imported."""
    try:
        found = [
            importlib.util.find_spec(name)
            for name in ("opentelemetry.sdk", "opentelemetry.instrumentation.asgi")
        ]
    except ModuleNotFoundError:
        return False
    return None not in found


def configs_at(level: int, traced: bool) -> tuple[str, ...]:
    """The configurations measured with ``level`` logins in flight."""
    return tuple(c for c in CONFIGS if (traced or c not in TRACED) and (level == 1 or c != C))


@dataclass
class Result:
    """Per (configuration, logins in flight): login wall times and in-request fire times (ns)."""

    rounds: dict[int, int]
    traced: bool
    request_ns: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    fire_ns: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    spans: dict[str, int] = field(default_factory=dict)
    split: bool = False  # a fire span outside the ASGI middleware's trace
    rows: int = 0
    seconds: float = 0.0


@asynccontextmanager
async def serving(database: Path) -> AsyncIterator[tuple[Any, Any, list[int]]]:
    """A tour-built regstack app, attached, its lifespan run; its ASGI app; its fire times."""
    import regstack_django
    from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack

    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{database}?timeout=30"))
    app = build_fastapi_app(rs)
    fires: list[int] = []
    async with app.router.lifespan_context(app):
        await rs.bootstrap_admin(EMAIL, PASSWORD)
        regstack_django.attach(rs)
        inner = rs.hooks.fire

        async def timed_fire(event: str, /, **kwargs: Any) -> None:
            start = time.perf_counter_ns()
            try:
                await inner(event, **kwargs)
            finally:
                fires.append(time.perf_counter_ns() - start)

        rs.hooks.fire = timed_fire
        yield rs, app, fires


@asynccontextmanager
async def client_for(app: Any) -> AsyncIterator[Any]:
    """An httpx client calling ``app`` in process."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _save_inline(fields: dict[str, Any]) -> None:
    """C: what the audit app would cost writing each row in the request (its first design)."""
    from regstack_django.audit.models import AuthEvent

    AuthEvent.objects.create(**fields)


class Tracing:
    """D and E's set-up: the SDK exporting to memory, the site wrapped as docs/tracing.md says."""

    def __init__(self) -> None:
        from django.test import override_settings
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        from benchmarks.otel import install_sdk

        self.exporter = install_sdk()  # SimpleSpanProcessor: spans export inside the request
        self.middleware = OpenTelemetryMiddleware
        self.setting = override_settings(REGSTACK_OPENTELEMETRY=True)
        self.on = False

    def turn(self, on: bool) -> None:
        """Set ``REGSTACK_OPENTELEMETRY`` (through ``override_settings``, as a deploy would)."""
        if on != self.on:
            (self.setting.enable if on else self.setting.disable)()
            self.on = on

    def take_spans(self) -> list[Any]:
        """Return the spans exported since the last call, and empty the exporter."""
        spans = list(self.exporter.get_finished_spans())
        self.exporter.clear()
        return spans


def check_trace(config: str, spans: list[Any]) -> bool:
    """Check a traced login's spans; return whether a fire span left the middleware's trace."""
    from opentelemetry.trace import SpanKind

    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    ours = [s for s in servers if s.instrumentation_scope.name == MIDDLEWARE_SCOPE]
    fires = [s for s in spans if s.name == "regstack.fire user_logged_in"]
    if len(ours) != 1:
        raise AssertionError(f"{config}: {len(ours)} spans of the ASGI middleware, not 1")
    want = 1 if config == E else 0
    if len(fires) != want or any(
        f.context.trace_id not in {s.context.trace_id for s in servers} for f in fires
    ):
        raise AssertionError(f"{config}: not {want} fire span in a request's trace")
    return any(f.context.trace_id != ours[0].context.trace_id for f in fires)


async def _login(client: Any) -> int:
    start = time.perf_counter_ns()
    response = await client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    elapsed = time.perf_counter_ns() - start
    if response.status_code != 200:
        raise AssertionError(f"login answered {response.status_code}")
    return elapsed


async def _measure(rounds: dict[int, int], warmup: dict[int, int], database: Path) -> Result:
    from regstack_django.audit import record, writer
    from regstack_django.audit.models import AuthEvent

    tracing = Tracing() if sdk_installed() else None
    result = Result(rounds=rounds, traced=tracing is not None)
    written = 0
    async with serving(database) as (_rs, app, fires):
        traced_app = tracing.middleware(app) if tracing is not None else app
        async with client_for(app) as plain, client_for(traced_app) as traced:
            before = await AuthEvent.objects.filter(event="user_logged_in").acount()
            save = writer.save
            for round_number in range(max(warmup[n] + rounds[n] for n in rounds)):
                gc.collect()
                for level in rounds:
                    timed = round_number - warmup[level]
                    if timed >= rounds[level]:
                        continue
                    configs = configs_at(level, tracing is not None)
                    shift = round_number % len(configs)  # rotate the order
                    for config in configs[shift:] + configs[:shift]:
                        (record.connect if config in AUDITED else record.disconnect)()
                        writer.save = _save_inline if config == C else save
                        if tracing is not None:
                            tracing.turn(config in TRACED)
                        client = traced if config in TRACED else plain
                        seen = len(fires)
                        gc.disable()
                        try:
                            times = await asyncio.gather(*(_login(client) for _ in range(level)))
                        finally:
                            gc.enable()
                        batch_fires = fires[seen:]
                        if len(batch_fires) != level:
                            raise AssertionError(f"{level} logins fired {len(batch_fires)} times")
                        written += level if config in AUDITED else 0
                        if tracing is not None:
                            spans = tracing.take_spans()
                            if config in TRACED and level == 1:
                                result.split |= check_trace(config, spans)
                                result.spans[config] = len(spans)
                        if timed >= 0:
                            key = (config, level)
                            result.request_ns.setdefault(key, []).extend(times)
                            result.fire_ns.setdefault(key, []).extend(batch_fires)
            record.connect()
            writer.save = save
            if tracing is not None:
                tracing.turn(False)
            await asyncio.to_thread(writer.flush)
            result.rows = await AuthEvent.objects.filter(event="user_logged_in").acount() - before
    if result.rows != written:
        raise AssertionError(f"B, C and E wrote {result.rows} rows, not {written}")
    return result


def measure(rounds: dict[int, int], warmup: dict[int, int]) -> Result:
    """Log in ``rounds[level]`` rounds per configuration and level (after ``warmup[level]``)."""
    from django.conf import settings

    setup_django(database=True, settings=SETTINGS)
    database = Path(str(settings.DATABASES["default"]["NAME"])).with_name("regstack.sqlite3")
    started = time.perf_counter()
    with frozen_heap():
        result = asyncio.run(_measure(rounds, warmup, database))
    result.seconds = time.perf_counter() - started
    return result


def p99(samples: list[int]) -> float:
    """The 99th percentile (interpolated; with fewer than 100 samples, near the maximum)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


HEADERS = [
    "in flight",
    "configuration",
    "login ms",
    "x A",
    "login p99 ms",
    "p99 x A",
    "fire µs",
    "fire Δ / A's login at 1",
]


def report(result: Result) -> tuple[str, str, bool]:
    """Terminal text, the Markdown table and notes, and whether the target is met."""
    rows, shares = [], {}
    one = statistics.median(result.request_ns[A, 1])  # one login's own work
    for level in result.rounds:
        base_req = statistics.median(result.request_ns[A, level])
        base_p99 = p99(result.request_ns[A, level])
        base_fire = statistics.median(result.fire_ns[A, level])
        for config in configs_at(level, result.traced):
            times = result.request_ns[config, level]
            req, tail = statistics.median(times), p99(times)
            fire = statistics.median(result.fire_ns[config, level])
            share = shares[config, level] = (fire - base_fire) / one * 100
            first = config == A
            rows.append(
                [
                    str(level),
                    config,
                    f"{req / 1e6:.1f}",
                    "-" if first else f"{req / base_req:.3f}",
                    f"{tail / 1e6:.1f}",
                    "-" if first else f"{tail / base_p99:.3f}",
                    f"{fire / 1e3:.1f}",
                    "-" if first else f"{share:+.2f}%",
                ]
            )
    met = shares[B, 1] <= LIMIT_PCT
    verdicts = [
        f"target: the audit app's share of a login (B, 1 in flight) ≤ {LIMIT_PCT:g}%: "
        f"{shares[B, 1]:.2f}% ({'met' if met else 'MISSED'}); C, writing in the request: "
        f"{shares[C, 1]:.2f}%"
    ]
    if not result.traced:
        verdicts.append(SDK_MISSING)
    samples = ", ".join(f"{result.rounds[n] * n} at {n}" for n in result.rounds)
    text = "\n".join(
        [
            f"== {TITLE}: logins per configuration {samples} in flight, interleaved "
            f"({result.seconds:.0f} s) ==",
            text_table(HEADERS, rows),
            f"(B, C and E wrote {result.rows} user_logged_in rows: one per login, warm-up "
            "included)",
            *(f"spans per traced login, {c[0]}: {n}" for c, n in result.spans.items()),
            *verdicts,
        ]
    )
    lines = [f"**{verdicts[0][0].upper()}{verdicts[0][1:]}**", *verdicts[1:]]
    markdown = "\n".join([md_table(HEADERS, rows), "", *lines])
    return text, markdown, met


def write_doc(result: Result, markdown: str, command: str) -> None:
    """Replace (or append) the "Audit log and OpenTelemetry" section of docs/benchmarks.md."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    spans = ", ".join(f"{config[0]} {n}" for config, n in result.spans.items())
    split = SPLIT if result.split else ""
    section = "\n".join(
        [
            "<!-- section: audit -->",
            f"## {TITLE}",
            "",
            f"`{command}`, {when}, {leg_name()}, {result.seconds:.0f} s, {cpu_model()}; "
            f"load average after: {load}. Written by `benchmarks/audit.py`.",
            "",
            "`POST /api/auth/login` of a real regstack app (the tour's, regstack's default "
            "argon2) through `httpx.ASGITransport`, attached to the bridge, SQLite for both "
            "databases. Interleaved rounds, the order rotating: each round logs in once per "
            f"configuration ({result.rounds[1]} timed rounds), then 10 times at once per "
            f"configuration (`asyncio.gather`, {result.rounds[10]} timed rounds); warm-up "
            "rounds first. **A**: the bridge with no receiver of `user_logged_in` (its fast "
            "path). **B**: the same process with `regstack_django.audit`'s receivers "
            "connected: the row's fields are taken in the bridge's worker thread, the row is "
            "written by the audit app's writer thread. **C** (1 in flight only): B with the "
            "row written (and committed) in the request instead, the design the writer thread "
            "replaced. **D**: A with `REGSTACK_OPENTELEMETRY = True`, OpenTelemetry's SDK "
            "(a `SimpleSpanProcessor` exporting every span to memory inside the request, "
            "cleared between rounds; metrics to an in-memory reader) and the app wrapped in "
            "`OpenTelemetryMiddleware`. **E**: "
            f"B and D together. Spans per traced login: {spans or 'n/a'} (the middleware's "
            "server span and its receive and send spans; FastAPI's own, as the installed "
            "FastAPI traces itself once a tracer provider is set; in E also the fire's and the "
            f"audit receiver's).{split}",
            "",
            "*login ms* and *login p99 ms* are each login's wall time (median, 99th "
            "percentile), *x A* their ratio to A's at the same number in flight; *fire µs* "
            'is the login\'s `hooks.fire("user_logged_in")`, timed inside the request (median), '
            "and *fire Δ / A's login at 1* what that adds to a login, as a share of A's median "
            "login with 1 in flight (one login's own work).",
            "",
            markdown,
            "",
            "B - A is the bridge's thread hop for a sync receiver; C - B is one SQLite commit, "
            "which the writer thread takes off the request (docs/audit.md: a row waits in "
            "memory for milliseconds, and a process killed then loses it). In D nothing "
            "receives `user_logged_in`, so the fire makes no span (its cost is the flag check) "
            "and D - A is the request's tracing (the middleware's and FastAPI's spans). "
            "regstack checks the argon2 hash on the event loop, so 10 logins in flight queue "
            "behind each other: a login's "
            "wall time is about ten hashes, and the ratios, not the milliseconds, compare the "
            "configurations. The hash dominates a login, so end-to-end differences of a few "
            "percent are within the noise of a shared machine; the fire time is the measure "
            "of what the bridge adds.",
            "",
            "<!-- /section -->",
            "",
        ]
    )
    current = DOC.read_text(encoding="utf-8")
    if SECTION.search(current):
        updated = SECTION.sub(lambda _m: section, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    DOC.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit", description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds of 1 login each")
    parser.add_argument(
        "--rounds-10", type=int, default=8, help="timed rounds of 10 logins in flight each"
    )
    parser.add_argument("--smoke", action="store_true", help="a few rounds, no doc")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.smoke:
        rounds, warmup = {1: 2, 3: 1}, {1: 1, 3: 0}
    else:
        rounds = dict(zip(LEVELS, (args.rounds, args.rounds_10), strict=True))
        warmup = dict(zip(LEVELS, (3, 1), strict=True))
    result = measure(rounds, warmup)
    text, markdown, _met = report(result)
    print(text)
    if args.write_doc and not args.smoke:
        command = "python -m benchmarks.audit --write-doc"
        if (args.rounds, args.rounds_10) != (40, 8):
            command = (
                f"python -m benchmarks.audit --rounds {args.rounds} --rounds-10 {args.rounds_10}"
                " --write-doc"
            )
        write_doc(result, markdown, command)
        print(f"wrote the '{TITLE}' section of {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
