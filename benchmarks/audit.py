"""The audit app's cost on a login: a real regstack login over ASGI, audit app off and on.

Interleaved rounds in one process; ``--write-doc`` writes the "Audit log" section of
docs/benchmarks.md, ``--smoke`` runs three rounds and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
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
EMAIL = "audit-bench@example.com"
PASSWORD = "audit-bench-password-1"
A, B = "A bridge, no audit app", "B + regstack_django.audit"
C = "C B, but the row committed in the request"
CONFIGS = (A, B, C)
#: The audit write's share of A's login, at most (in-request fire time, B minus A).
LIMIT_PCT = 2.0


@dataclass
class Result:
    """Per configuration: login wall times and in-request fire times (ns)."""

    rounds: int
    request_ns: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CONFIGS})
    fire_ns: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CONFIGS})
    rows: int = 0
    seconds: float = 0.0


@asynccontextmanager
async def serving(database: Path) -> AsyncIterator[tuple[Any, Any, list[int]]]:
    """A tour-built regstack app, attached, its lifespan run; a client; its fire times."""
    import httpx

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
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield rs, client, fires


def _save_inline(fields: dict[str, Any]) -> None:
    """C: what the audit app would cost writing each row in the request (its first design)."""
    from regstack_django.audit.models import AuthEvent

    AuthEvent.objects.create(**fields)


async def _measure(rounds: int, warmup: int, database: Path) -> Result:
    from regstack_django.audit import record, writer
    from regstack_django.audit.models import AuthEvent

    result = Result(rounds=rounds)
    async with serving(database) as (_rs, client, fires):
        before = await AuthEvent.objects.filter(event="user_logged_in").acount()
        save = writer.save
        for round_number in range(warmup + rounds):
            gc.collect()
            shift = round_number % len(CONFIGS)  # rotate the order
            for config in CONFIGS[shift:] + CONFIGS[:shift]:
                (record.disconnect if config == A else record.connect)()
                writer.save = _save_inline if config == C else save
                gc.disable()
                try:
                    start = time.perf_counter_ns()
                    response = await client.post(
                        "/api/auth/login", json={"email": EMAIL, "password": PASSWORD}
                    )
                    elapsed = time.perf_counter_ns() - start
                finally:
                    gc.enable()
                if response.status_code != 200:
                    raise AssertionError(f"login answered {response.status_code}")
                if round_number >= warmup:
                    result.request_ns[config].append(elapsed)
                    result.fire_ns[config].append(fires[-1])
        record.connect()
        writer.save = save
        await asyncio.to_thread(writer.flush)
        result.rows = await AuthEvent.objects.filter(event="user_logged_in").acount() - before
    if result.rows != 2 * (warmup + rounds):
        raise AssertionError(f"B and C wrote {result.rows} rows, not {2 * (warmup + rounds)}")
    return result


def measure(rounds: int, warmup: int = 3) -> Result:
    """Log in ``rounds`` times per configuration (after ``warmup`` rounds)."""
    from django.conf import settings

    setup_django(database=True, settings=SETTINGS)
    database = Path(str(settings.DATABASES["default"]["NAME"])).with_name("regstack.sqlite3")
    started = time.perf_counter()
    with frozen_heap():
        result = asyncio.run(_measure(rounds, warmup, database))
    result.seconds = time.perf_counter() - started
    return result


def report(result: Result) -> tuple[str, str, bool]:
    """Terminal text, the Markdown table and notes, and whether the target is met."""
    base_req = statistics.median(result.request_ns[A])
    base_fire = statistics.median(result.fire_ns[A])
    headers = ["configuration", "login ms", "Δ vs A", "fire µs", "fire Δ µs", "fire Δ / A's login"]
    rows, shares = [], {}
    for config in CONFIGS:
        req = statistics.median(result.request_ns[config])
        fire = statistics.median(result.fire_ns[config])
        share = shares[config] = (fire - base_fire) / base_req * 100
        first = config == A
        rows.append(
            [
                config,
                f"{req / 1e6:.1f}",
                "-" if first else f"{(req - base_req) / 1e6:+.2f} ms",
                f"{fire / 1e3:.1f}",
                "-" if first else f"{(fire - base_fire) / 1e3:+.1f}",
                "-" if first else f"{share:+.2f}%",
            ]
        )
    met = shares[B] <= LIMIT_PCT
    verdict = (
        f"target: the audit app's share of a login (B) ≤ {LIMIT_PCT:g}%: "
        f"{shares[B]:.2f}% ({'met' if met else 'MISSED'}); C, writing in the request: "
        f"{shares[C]:.2f}%"
    )
    text = "\n".join(
        [
            f"== Audit log: one login, median of {result.rounds} interleaved rounds "
            f"({result.seconds:.0f} s) ==",
            text_table(headers, rows),
            f"(B and C wrote {result.rows} user_logged_in rows: one per login, warm-up included)",
            verdict,
        ]
    )
    markdown = "\n".join([md_table(headers, rows), "", f"**{verdict[0].upper()}{verdict[1:]}**"])
    return text, markdown, met


def write_doc(result: Result, markdown: str, command: str) -> None:
    """Replace (or append) the "Audit log" section of docs/benchmarks.md."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    section = "\n".join(
        [
            "<!-- section: audit -->",
            "## Audit log",
            "",
            f"`{command}`, {when}, {leg_name()}, {result.seconds:.0f} s, {cpu_model()}; "
            f"load average after: {load}. Written by `benchmarks/audit.py`.",
            "",
            "`POST /api/auth/login` of a real regstack app (the tour's, regstack's default "
            "argon2) through `httpx.ASGITransport`, attached to the bridge, SQLite for both "
            f"databases; {result.rounds} interleaved rounds (after 3 warm-up), the order "
            "rotating. **A**: the bridge with no receiver of `user_logged_in` (its fast "
            "path). **B**: the same process with `regstack_django.audit`'s receivers connected: "
            "the row's fields are taken in the bridge's worker thread, the row is written by "
            "the audit app's writer thread. **C**: B with the row written (and committed) in "
            "the request instead, the design the writer thread replaced. *fire µs* is the "
            'login\'s `hooks.fire("user_logged_in")`, timed inside the request: B - A is what '
            "the audit app adds to a login.",
            "",
            markdown,
            "",
            "B - A is the bridge's thread hop for a sync receiver; C - B is one SQLite commit, "
            "which the writer thread takes off the request (docs/audit.md: a row waits in "
            "memory for milliseconds, and a process killed then loses it). The argon2 hash "
            "dominates a login, so the end-to-end difference of medians is noisy; the fire "
            "time is the measure.",
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
    parser.add_argument("--rounds", type=int, default=40, help="timed logins per configuration")
    parser.add_argument("--smoke", action="store_true", help="three rounds, no doc")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    rounds = 3 if args.smoke else args.rounds
    result = measure(rounds, warmup=1 if args.smoke else 3)
    text, markdown, _met = report(result)
    print(text)
    if args.write_doc and not args.smoke:
        command = "python -m benchmarks.audit --write-doc"
        if args.rounds != 40:
            command = f"python -m benchmarks.audit --rounds {args.rounds} --write-doc"
        write_doc(result, markdown, command)
        print(f"wrote the 'Audit log' section of {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
