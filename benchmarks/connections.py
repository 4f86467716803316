"""How many PostgreSQL connections a site holds: web processes x ``CONN_MAX_AGE`` x receiver speed.

Real uvicorn processes serve ``benchmarks.projects.connections`` (Django's and regstack's
databases on one PostgreSQL); register + login flows over HTTP; every 20 ms the backends
of each database are counted in ``pg_stat_activity``. The table goes into
docs/connections.md. ``python -m benchmarks.connections --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.net import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "connections.md"
MARKERS = ("<!-- measured: benchmarks.connections -->", "<!-- /measured -->")
SETTINGS = "benchmarks.projects.connections"
#: The bridge's defaults (README): pool workers, enqueue threads; regstack's engine pool.
WORKERS, ENQUEUE_THREADS, REGSTACK_POOL = 20, 4, 5 + 10
SLOW_SECONDS = 0.2
SAMPLE_EVERY = 0.02
BOOT_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


# -- a uvicorn process ---------------------------------------------------------------------


def start_uvicorn(
    env: dict[str, str], port: int, processes: int, log: Path
) -> subprocess.Popen[bytes]:
    """Start ``uvicorn --workers processes`` on the site; return once every process is up."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "regstack_django.asgi:get_asgi_application",
    ]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(processes)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + BOOT_TIMEOUT
    while log.read_text(errors="replace").count("Application startup complete") < processes:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"uvicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server as a supervisor does (SIGTERM), then kill it if it hangs."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


# -- PostgreSQL ---------------------------------------------------------------------------------


def _admin(server: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True, application_name="bench-monitor") as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def counts(conn: Any, databases: tuple[str, str]) -> tuple[int, int]:
    """Return the backends on (Django's, regstack's) database."""
    rows = conn.execute(
        "SELECT datname, count(*) FROM pg_stat_activity WHERE datname = ANY(%s) GROUP BY datname",
        (list(databases),),
    ).fetchall()
    found = dict(rows)
    return int(found.get(databases[0], 0)), int(found.get(databases[1], 0))


class Sampler(threading.Thread):
    """Count the backends every ``SAMPLE_EVERY`` until stopped; keep the peaks."""

    def __init__(self, server: str, databases: tuple[str, str]) -> None:
        super().__init__(daemon=True)
        self.server, self.databases = server, databases
        self.peak = (0, 0, 0)  # Django, regstack, both at once
        self.halt = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(
            self.server, autocommit=True, application_name="bench-monitor"
        ) as conn:
            deadline = time.monotonic() + 3600
            while not self.halt.is_set() and time.monotonic() < deadline:
                django, regstack = counts(conn, self.databases)
                a, b, c = self.peak
                self.peak = (max(a, django), max(b, regstack), max(c, django + regstack))
                self.halt.wait(SAMPLE_EVERY)


def count_now(server: str, databases: tuple[str, str]) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(server, autocommit=True, application_name="bench-monitor") as conn:
        return counts(conn, databases)


# -- one configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    processes: int
    max_age: int
    slow: bool

    @property
    def label(self) -> str:
        return f"{self.processes}p-age{self.max_age}-{'slow' if self.slow else 'fast'}"


@dataclass
class Row:
    config: Config
    flows: int
    seconds: float
    statuses: Counter[str] = field(default_factory=Counter)
    idle: tuple[int, int] = (0, 0)
    peak: tuple[int, int, int] = (0, 0, 0)
    after: tuple[int, int] = (0, 0)
    stopped: tuple[int, int] = (0, 0)
    errors: int = 0


async def _load(port: int, flows: int, concurrency: int, tag: str) -> Counter[str]:
    import httpx

    statuses: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    base = f"http://127.0.0.1:{port}/api/auth"
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def flow(i: int) -> None:
            body = {"email": f"{tag}-{i}@example.com", "password": "correct horse battery staple"}
            async with gate:
                for step, expected in (("register", 201), ("login", 200)):
                    try:
                        response = await client.post(f"/{step}", json=body)
                        ok = response.status_code == expected
                        statuses[f"{step} {'ok' if ok else response.status_code}"] += 1
                    except httpx.HTTPError as exc:
                        statuses[f"{step} {type(exc).__name__}"] += 1

        await asyncio.gather(*(flow(i) for i in range(flows)))
    return statuses


def measure(
    server: str, databases: tuple[str, str], config: Config, args: argparse.Namespace, logs: Path
) -> Row:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "BENCH_PG_SERVER": server,
        "BENCH_DJANGO_DB": databases[0],
        "BENCH_REGSTACK_DB": databases[1],
        "BENCH_CONN_MAX_AGE": str(config.max_age),
        "BENCH_RECEIVER_SECONDS": str(SLOW_SECONDS if config.slow else 0),
        "BENCH_CHEAP_ARGON2": "1",
    }
    log = logs / f"{config.label}.log"
    port = free_port()
    proc = start_uvicorn(env, port, config.processes, log)
    try:
        row = Row(config, args.flows, 0.0, idle=count_now(server, databases))
        sampler = Sampler(server, databases)
        sampler.start()
        started = time.perf_counter()
        row.statuses = asyncio.run(
            _load(port, args.flows, args.concurrency, f"{config.label}-{uuid.uuid4().hex[:6]}")
        )
        row.seconds = time.perf_counter() - started
        time.sleep(1.0)
        sampler.halt.set()
        sampler.join(10)
        row.peak = sampler.peak
        row.after = count_now(server, databases)
    finally:
        stop(proc)
    deadline = time.monotonic() + 10
    row.stopped = count_now(server, databases)
    while row.stopped != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
        row.stopped = count_now(server, databases)
    row.errors = len(
        re.findall(r"^(ERROR|Traceback)", log.read_text(errors="replace"), re.MULTILINE)
    )
    return row


# -- the run ------------------------------------------------------------------------------------


def prepare(server: str, databases: tuple[str, str]) -> None:
    """Create both databases, then Django's tables and regstack's schema, once."""
    _admin(server, *(f'CREATE DATABASE "{name}"' for name in databases))
    code = (
        "import asyncio, django; django.setup(); "
        "from django.core.management import call_command; "
        "call_command('migrate', run_syncdb=True, verbosity=0); "
        "import regstack_django; asyncio.run(regstack_django.get_regstack().install_schema())"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "BENCH_PG_SERVER": server,
        "BENCH_DJANGO_DB": databases[0],
        "BENCH_REGSTACK_DB": databases[1],
    }
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True, timeout=300)


def bound(config: Config) -> tuple[int, int]:
    """The budget's bound for this configuration: (Django's, regstack's) connections."""
    return config.processes * (WORKERS + ENQUEUE_THREADS), config.processes * REGSTACK_POOL


def table(rows: list[Row]) -> str:
    head = [
        "web processes",
        "`CONN_MAX_AGE`",
        "receivers",
        "flows ok",
        "flows/s",
        "peak Django / regstack / both",
        "bound Django / regstack",
        "1 s after: Django / regstack",
        "server stopped",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" ---: " for _ in head) + "|"]
    for row in rows:
        c = row.config
        ok = row.statuses["login ok"]
        failed = {k: v for k, v in row.statuses.items() if not k.endswith(" ok")}
        shown = f"{ok}/{row.flows}" + (
            f" ({', '.join(f'{k}: {v}' for k, v in failed.items())})" if failed else ""
        )
        cells = [
            str(c.processes),
            str(c.max_age),
            f"slow ({SLOW_SECONDS:g} s)" if c.slow else "fast",
            shown,
            f"{row.flows / row.seconds:.1f}",
            "{} / {} / {}".format(*row.peak),
            "{} / {}".format(*bound(c)),
            "{} / {}".format(*row.after),
            "{} / {}".format(*row.stopped),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(rows: list[Row], args: argparse.Namespace, seconds: float, server_version: str) -> str:
    import django
    import regstack

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    errors = sum(r.errors for r in rows)
    return "\n".join(
        [
            MARKERS[0],
            "",
            f"Measured {when} by `python -m benchmarks.connections --flows {args.flows} "
            f"--concurrency {args.concurrency}` ({seconds:.0f} s): {os.cpu_count()} cores, load "
            f"average {load} at the end, PostgreSQL {server_version}, Django {django.__version__}, "
            f"regstack {regstack.__version__}, Python {platform.python_version()}. "
            f"{args.flows} register + login flows per row, {args.concurrency} in flight; "
            f"{errors} ERROR lines in the servers' logs.",
            "",
            table(rows),
            "",
            MARKERS[1],
        ]
    )


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index(MARKERS[0]), doc.index(MARKERS[1]) + len(MARKERS[1])
    DOC.write_text(doc[:start] + text + doc[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--postgres", default=os.environ.get("REGSTACK_TEST_POSTGRES"), help="libpq URL"
    )
    parser.add_argument("--flows", type=int, default=200, help="register + login flows per row")
    parser.add_argument("--concurrency", type=int, default=50, help="flows in flight")
    parser.add_argument(
        "--smoke", action="store_true", help="one process, fast receivers, 20 flows"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error("give --postgres URL or set REGSTACK_TEST_POSTGRES")
    configs = [Config(p, age, slow) for p in (1, 4) for age in (0, 60) for slow in (False, True)]
    if args.smoke:
        args.flows, args.no_write = min(args.flows, 20), True
        configs = [Config(1, 0, False), Config(1, 60, False)]
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    databases = (f"bench_conn_django_{tag}", f"bench_conn_regstack_{tag}")
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_conn_") as logs:
        try:
            prepare(args.postgres, databases)
            for config in configs:
                rows.append(measure(args.postgres, databases, config, args, Path(logs)))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
        finally:
            _admin(
                args.postgres, *(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in databases)
            )
    import psycopg

    with psycopg.connect(args.postgres) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
    text = section(rows, args, time.perf_counter() - started, version)
    print(text)
    if not args.no_write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
