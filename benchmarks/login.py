"""Logins over HTTP on PostgreSQL: regstack alone, with the bridge and 3 receivers, and a durable
handler added; 1 and 2 gunicorn processes, 10 and 50 in flight, interleaved rounds.
``--write-doc`` writes its "Login on PostgreSQL" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.harness import REPO_ROOT, leg_name, md_table, text_table
from benchmarks.load.server import cpu_seconds
from support.databases import pair
from support.machine import cpu_model, load_average
from support.net import free_port

DOC = REPO_ROOT / "docs" / "benchmarks.md"
#: The doc's section per argon2 setting: regstack's defaults, or cheap (``--cheap-argon2``).
SECTIONS = {False: "login", True: "login-cheap-argon2"}
SETTINGS = "benchmarks.projects.login"
API = "/api/auth"
PASSWORD = "login-benchmark-password-1"
MODES = {"alone": "A regstack alone", "bridge": "B + bridge, 3 receivers", "durable": "C + durable"}
#: (mode, what it is compared with regstack alone on: throughput at least, p99 at most).
TARGETS = {"bridge": (0.95, 1.10), "durable": (0.90, 1.20)}
START_SECONDS = 180.0
#: Words of a server log line that reports a failure, the most specific first: a killed worker,
#: a request's traceback, regstack's connection pool running out, any other ERROR.
SERVER_PROBLEMS = (
    "WORKER TIMEOUT",
    "Exception in ASGI application",
    "QueuePool limit",
    "CRITICAL",
    "ERROR",
)


@dataclass
class Round:
    """One mode's logins in one round: wall time, each login's latency, the failures."""

    seconds: float
    latencies: list[float]
    errors: Counter[str]  # what failed: an HTTP status, or the client's exception
    cpu: float = 0.0  # the server's processes, all of them

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / max(1, len(self.latencies))


@dataclass
class Cell:
    """Every round of one (processes, concurrency, mode)."""

    processes: int
    concurrency: int
    mode: str
    rounds: list[Round] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return sorted(x for r in self.rounds for x in r.latencies)

    def quantile(self, q: float) -> float:
        xs = self.latencies
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.rounds)

    @property
    def errors(self) -> str:
        found: Counter[str] = sum((r.errors for r in self.rounds), Counter())
        kinds = ", ".join(f"{n} {kind}" for kind, n in found.most_common())
        return f"{found.total()} ({kinds})" if found else "0"

    @property
    def cpu_ms(self) -> float:
        return statistics.median(r.cpu_ms for r in self.rounds)


def server_cpu(master: int) -> float:
    """CPU seconds of gunicorn's master and its worker processes (Linux ``/proc``)."""
    children: list[int] = []
    for path in Path(f"/proc/{master}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children += [int(pid) for pid in path.read_text().split()]
    return sum(cpu_seconds(pid) for pid in [master, *children])


# --------------------------------------------------------------------------- the servers


@dataclass
class Site:
    """The databases, the secrets and the files every server of one run shares."""

    urls: tuple[str, str]
    workdir: Path
    cheap_argon2: bool
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    #: What the servers' logs say went wrong (gunicorn's and uvicorn's own words), counted.
    problems: Counter[str] = field(default_factory=Counter)

    def env(self, mode: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGSTACK_"))}
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS,
            BENCH_LOGIN_MODE=mode,
            BENCH_DATABASE_URL=self.urls[0],
            BENCH_REGSTACK_DATABASE_URL=self.urls[1],
            DJANGO_SECRET_KEY=self.secret_key,
            REGSTACK_JWT_SECRET=self.jwt_secret,
            TESTPROJECT_VAR_DIR=str(self.workdir),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        if self.cheap_argon2:
            env["BENCH_CHEAP_ARGON2"] = "1"
        return env

    def release(self) -> None:
        """docs/deployment.md's release step (``--run-syncdb``: the records app's table)."""
        for command in (["migrate", "--run-syncdb", "--noinput", "-v0"], ["regstack_migrate"]):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=REPO_ROOT,
                env=self.env("alone"),
                check=True,
                timeout=300,
                stdout=subprocess.DEVNULL,
            )

    @contextlib.contextmanager
    def served(self, mode: str, processes: int) -> Iterator[tuple[str, int]]:
        """The guide's web line with ``processes`` workers in ``mode``; URL and master pid."""
        port = free_port()
        command = ["gunicorn", "testproject.asgi:application", "-k", "uvicorn_worker.UvicornWorker"]
        command += ["--workers", str(processes), "--bind", f"127.0.0.1:{port}"]
        log = self.workdir / f"{mode}-{processes}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                command, cwd=REPO_ROOT, env=self.env(mode), stdout=out, stderr=subprocess.STDOUT
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_SECONDS
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn ({mode}) did not start:\n{log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base_url}{API}/openapi.json", timeout=5).status_code == 200:
                        break
                time.sleep(0.25)
            yield base_url, server.pid
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
            for line in log.read_text(errors="replace").splitlines():
                if found := next((w for w in SERVER_PROBLEMS if w in line), None):
                    self.problems[f"{MODES[mode]}, {processes} proc: {found}"] += 1


# --------------------------------------------------------------------------- the client


async def register(base_url: str, emails: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as client:
        for email in emails:
            response = await client.post(
                f"{API}/register", json={"email": email, "password": PASSWORD}
            )
            response.raise_for_status()


async def logins(base_url: str, emails: list[str], count: int, concurrency: int) -> Round:
    """``count`` logins, ``concurrency`` in flight (closed loop), over one connection each."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, limits=limits, trust_env=False
    ) as client:

        async def lane() -> None:
            while not queue.empty():
                email = emails[queue.get_nowait() % len(emails)]
                started = time.perf_counter()
                try:
                    response = await client.post(
                        f"{API}/login", json={"email": email, "password": PASSWORD}
                    )
                    failed = "" if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    failed = type(exc).__name__
                if failed:
                    errors[failed] += 1
                else:
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    return Round(time.perf_counter() - started, latencies, errors)


def measure(site: Site, processes: int, args: argparse.Namespace) -> list[Cell]:
    """Every mode's server up at once; interleaved, rotating rounds at each concurrency."""
    cells: list[Cell] = []
    emails = [f"bench-{processes}-{n}@example.com" for n in range(max(args.concurrency))]
    with contextlib.ExitStack() as stack:
        servers = {mode: stack.enter_context(site.served(mode, processes)) for mode in MODES}
        asyncio.run(register(servers["alone"][0], emails))  # fires nothing: the bridge is off
        for concurrency in args.concurrency:
            row = {mode: Cell(processes, concurrency, mode) for mode in MODES}
            modes = list(MODES)
            for number in range(args.warmup + args.rounds):
                for mode in modes[number % 3 :] + modes[: number % 3]:
                    url, master = servers[mode]
                    cpu = server_cpu(master)
                    done = asyncio.run(logins(url, emails, args.per_round, concurrency))
                    done.cpu = server_cpu(master) - cpu
                    if number >= args.warmup:
                        row[mode].rounds.append(done)
            cells += row.values()
            print(f"  measured: {processes} process(es), {concurrency} in flight", flush=True)
    return cells


# --------------------------------------------------------------------------- the report


def _paired(cell: Cell, base: Cell) -> tuple[float, float, float]:
    """p25, median, p75 of the round-by-round throughput ratios ``cell / base``."""
    ratios = sorted(a.rate / b.rate for a, b in zip(cell.rounds, base.rounds, strict=True))
    if len(ratios) < 4:
        mid = statistics.median(ratios)
        return mid, mid, mid
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    return q1, q2, q3


HEADERS = ["processes", "in flight", "configuration", "logins/s", "p50 ms", "p99 ms", "errors"]
HEADERS += ["throughput / A (IQR)", "p99 / A", "server CPU ms/login", "CPU / A"]


def rows(cells: list[Cell]) -> list[list[str]]:
    base = {(c.processes, c.concurrency): c for c in cells if c.mode == "alone"}
    out = []
    for cell in cells:
        alone = base[cell.processes, cell.concurrency]
        q1, q2, q3 = _paired(cell, alone)
        vs = "1" if cell is alone else f"{q2:.3f} ({q1:.2f} to {q3:.2f})"
        p99 = "1" if cell is alone else f"{cell.quantile(0.99) / alone.quantile(0.99):.3f}"
        p50_ms, p99_ms = cell.quantile(0.5) * 1000, cell.quantile(0.99) * 1000
        where = [str(cell.processes), str(cell.concurrency), MODES[cell.mode]]
        out.append([*where, f"{cell.rate:.1f}", f"{p50_ms:.1f}", f"{p99_ms:.1f}"])
        cpu = "1" if cell is alone else f"{cell.cpu_ms / alone.cpu_ms:.3f}"
        out[-1] += [cell.errors, vs, p99, f"{cell.cpu_ms:.2f}", cpu]
    return out


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def verdicts(cells: list[Cell]) -> list[list[str]]:
    base = {(c.processes, c.concurrency): c for c in cells if c.mode == "alone"}
    found = []
    for cell in cells:
        if cell.mode not in TARGETS:
            continue
        alone = base[cell.processes, cell.concurrency]
        least, most = TARGETS[cell.mode]
        rate = _paired(cell, alone)[1]
        p99 = cell.quantile(0.99) / alone.quantile(0.99)
        where = f"{MODES[cell.mode]}, {cell.processes} proc, {cell.concurrency} in flight"
        found.append([where, f">= {least}", f"{rate:.3f}", _verdict(rate >= least)])
        found.append([f"{where}, p99", f"<= {most}", f"{p99:.3f}", _verdict(p99 <= most)])
    return found


def section(cells: list[Cell], args: argparse.Namespace, info: dict[str, str]) -> str:
    table = verdicts(cells)
    met = sum(v[3] == "met" for v in table)
    argon2 = (
        "cheap argon2 parameters in the servers (`BENCH_CHEAP_ARGON2`, as the HTTP concurrency "
        "benchmark), so that the bridge's own cost stands out: a login then costs a few ms of "
        "server CPU instead of the default's (the section above)"
        if args.cheap_argon2
        else "regstack's default argon2 parameters (what a site's login costs)"
    )
    title = "Login on PostgreSQL" + (", cheap argon2" if args.cheap_argon2 else "")
    lines = [
        f"<!-- section: {SECTIONS[args.cheap_argon2]} -->",
        f"## {title}",
        "",
        f"`{info['command']}`, {info['when']}, {leg_name()}, {info['seconds']} s, "
        f"{info['cpu']}; PostgreSQL {info['postgres']} on 127.0.0.1. Load average (1/5/15 "
        f"min) before: {info['load_before']}, after: {info['load_after']}. Written by "
        "`benchmarks/login.py`.",
        "",
        "`POST /api/auth/login` over HTTP against the testproject's site served as "
        "docs/deployment.md serves it (gunicorn with uvicorn workers, Django's and regstack's "
        "databases on PostgreSQL, `CONN_MAX_AGE = 60`), with "
        f"{argon2}. Three servers run side by side on one pair of databases: "
        "**A** regstack alone (the bridge not attached: events reach no Django signal), "
        "**B** the bridge with three receivers of `user_logged_in` (a sync receiver writing "
        "one row through the ORM, an async receiver, a settings-wired handler), **C** B plus "
        "one durable background handler (one outbox row per login; no relay or worker runs, "
        "so the login's own cost is what is measured). "
        f"{args.rounds} rounds (after {args.warmup} warm-up) of {args.per_round} logins per "
        "server, the servers' order rotating each round; *logins/s*: median over rounds; "
        "*p50/p99*: every login of the cell; *throughput / A*: median (and quartiles) of the "
        "round-by-round ratios to A; *server CPU ms/login*: the CPU time of the server's "
        "processes (gunicorn and its workers) per login, median over rounds: the cost, less "
        "sensitive than throughput to what else the machine runs.",
        "",
        f"**Targets: {met} of {len(table)} met.**",
        "",
        md_table(["target", "limit", "measured", "verdict"], table),
        "",
        md_table(HEADERS, rows(cells)),
        "",
    ]
    problems = info.get("problems", "")
    lines += [f"Failures in the servers' logs: {problems or 'none'}.", ""]
    if info.get("note"):
        lines += [info["note"], ""]
    lines.append("<!-- /section -->")
    return "\n".join(lines) + "\n"


def write_doc(text: str, cheap_argon2: bool, path: Path = DOC) -> None:
    name = SECTIONS[cheap_argon2]
    pattern = re.compile(rf"<!-- section: {name} -->\n.*?<!-- /section -->\n", re.DOTALL)
    current = path.read_text(encoding="utf-8")
    updated = (
        pattern.sub(lambda _m: text, current)
        if pattern.search(current)
        else current.rstrip("\n") + "\n\n" + text
    )
    path.write_text(updated, encoding="utf-8")


def postgres_version(server: str) -> str:
    import psycopg

    with psycopg.connect(server) as connection:
        return str(connection.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def _shown(argv: list[str]) -> list[str]:
    """The command line as the doc shows it: without ``--note`` and its text, or the URL."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--note", "--postgres"):
            skip = True
        elif not arg.startswith(("--note=", "--postgres=")):
            shown.append(arg)
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.login")
    parser.add_argument("--postgres", default=os.environ.get("REGSTACK_TEST_POSTGRES", ""))
    parser.add_argument("--processes", default="1,2", help="gunicorn workers per server")
    parser.add_argument("--concurrency", default="10,50", help="logins in flight")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--per-round", type=int, default=0, help="logins per server and round (60; cheap: 200)"
    )
    parser.add_argument(
        "--cheap-argon2", action="store_true", help="cheap password hashing in the servers"
    )
    parser.add_argument("--note", default="", help="a paragraph for the doc (the machine's state)")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="one small round, no doc")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.postgres:
        parser.error("give --postgres or REGSTACK_TEST_POSTGRES (a libpq URL)")
    if args.smoke and args.write_doc:
        parser.error("--smoke writes no doc")
    if args.smoke:
        args.processes, args.concurrency, args.rounds = "1", "4", 1
        args.warmup, args.per_round = 0, 8
    args.per_round = args.per_round or (200 if args.cheap_argon2 else 60)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    info = {
        "command": " ".join(["python -m benchmarks.login", *_shown(argv or sys.argv[1:])]),
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_average(),
        "cpu": f"{os.cpu_count()} CPUs ({cpu_model()})",
        "postgres": postgres_version(args.postgres),
        "note": args.note,
    }
    print(f"login benchmark, {leg_name()}, load {info['load_before']}", flush=True)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="regstack_django_login_"))
    cells: list[Cell] = []
    try:
        with pair("bench_login", on=args.postgres) as urls:
            site = Site(urls, workdir, args.cheap_argon2)
            site.release()
            for processes in (int(p) for p in args.processes.split(",")):
                cells += measure(site, processes, args)
            info["problems"] = "; ".join(f"{k} ({n})" for k, n in site.problems.most_common())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["seconds"] = f"{time.perf_counter() - started:.0f}"
    info["load_after"] = load_average()
    print()
    print(text_table(HEADERS, rows(cells)))
    for where, limit, shown, verdict in verdicts(cells):
        print(f"  {verdict:6} {where}: {shown} (limit {limit})")
    print(f"  failures in the servers' logs: {info.get('problems') or 'none'}")
    if args.write_doc:
        write_doc(section(cells, args, info), args.cheap_argon2)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
