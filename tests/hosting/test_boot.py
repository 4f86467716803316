"""Four server processes started at once on a fresh database all boot, and a failed boot stops.

Each round makes a new regstack database (SQLite file or PostgreSQL database),
starts four processes of a throw-away site at the same moment and waits until
every one has run its lifespan (regstack's schema install: one process
installs, three find it at head) and the site registers a user over HTTP:
``uvicorn --workers 4``, four ``uvicorn`` processes on four free loopback
ports (each one asked), and ``gunicorn -w 4`` with uvicorn's worker class.
Then SIGTERM, and every worker shuts down cleanly, with no error in any log.
The default run does three rounds per database (one per server); the
``trials`` variant does ten per server and database: 40 of 40 processes. A
site whose database cannot be reached stops instead of serving: gunicorn and a
single uvicorn exit 3; ``uvicorn --workers`` stops all its workers but exits 0
(uvicorn's supervisor; docs/hosting.md says so).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support.net import free_port
from tests.hosting.boot_site import (
    DATABASES,
    Process,
    fresh_database,
    runs_here,
    site_env,
    write_site,
)

pytestmark = pytest.mark.slow

APP = "mysite.asgi:application"
BOOT_SECONDS = 150.0  # four processes importing Django + regstack on a loaded 2-core machine
READY = "Application startup complete."
FAILED = ("Application startup failed", "failed to start", "Worker failed to boot", "Traceback")


def uvicorn(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port)]


def gunicorn(port: int, workers: int) -> list[str]:
    return [
        *(sys.executable, "-m", "gunicorn", APP, "-k", "uvicorn_worker.UvicornWorker"),
        *("-w", str(workers), "-b", f"127.0.0.1:{port}"),
    ]


#: server -> (one command per process, with the port it listens on; workers per process)
Launch = list[tuple[list[str], int]]
SERVERS: dict[str, tuple[Callable[[], Launch], int]] = {
    "uvicorn --workers 4": (
        lambda: [([*uvicorn(port := free_port()), "--workers", "4"], port)],
        4,
    ),
    "4 uvicorn processes": (
        lambda: [(uvicorn(port), port) for port in (free_port() for _ in range(4))],
        1,
    ),
    "gunicorn -w 4": (lambda: [(gunicorn(port := free_port(), 4), port)], 4),
}


def needs_gunicorn(server: str) -> None:
    if not server.startswith("gunicorn"):
        return
    missing = [m for m in ("gunicorn", "uvicorn_worker") if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (the test dependency group has them)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def boot_round(folder: Path, server: str, database: str) -> float:
    """Start ``server`` on a fresh ``database``; seconds until all four processes serve."""
    needs_gunicorn(server)
    site = write_site(folder / "site")
    launch, workers = SERVERS[server]
    with fresh_database(database, folder / "db") as url:
        env = site_env(url)
        started = time.monotonic()
        processes = [
            (Process(site, args, env, folder / f"server-{port}.log"), port)
            for args, port in launch()
        ]
        try:
            wait_until_serving(processes, workers, started)
            took = time.monotonic() - started
        finally:
            codes = [process.stop() for process, _ in processes]
        logs = "\n".join(process.output() for process, _ in processes)
        # uvicorn re-raises the SIGTERM it handled, after its graceful shutdown
        assert set(codes) <= {0, -signal.SIGTERM}, (codes, logs)
        assert logs.count("Application shutdown complete.") == 4, logs
        assert not [line for line in logs.splitlines() if "ERROR" in line], logs
    installs = re.findall(r"^regstack schema: (installed|already at head)", logs, re.M)
    assert sorted(installs) == ["already at head"] * 3 + ["installed"], logs
    return took


def wait_until_serving(processes: list[tuple[Process, int]], workers: int, started: float) -> None:
    waiting = {port for _, port in processes}
    for _ in range(int(BOOT_SECONDS / 0.2)):
        for process, port in processes:
            output = process.output()
            if process.popen.poll() is not None or any(word in output for word in FAILED):
                pytest.fail(f"{process.popen.args} did not boot:\n{output}")
            if port in waiting and output.count(READY) == workers and registers(port):
                waiting.discard(port)
        if not waiting:
            return
        if time.monotonic() - started > BOOT_SECONDS:
            break
        time.sleep(0.2)
    logs = "\n".join(process.output() for process, _ in processes)
    pytest.fail(f"not serving after {BOOT_SECONDS} s (ports {sorted(waiting)}):\n{logs}")


def registers(port: int) -> bool:
    """A regstack route that needs the schema: a new user, 201."""
    email = f"boot-{port}-{time.monotonic_ns()}@example.com"
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/register",
            json={"email": email, "password": "a-long-enough-password-1"},
            timeout=30,
        )
    except httpx.TransportError:
        return False
    assert answer.status_code == 201, answer.text
    return True


@pytest.mark.parametrize("database", DATABASES)
def test_four_processes_boot_at_once_on_a_fresh_database(database: str, tmp_path: Path) -> None:
    runs_here(database)
    times = {
        server: boot_round(tmp_path / f"round-{n}", server, database)
        for n, server in enumerate(SERVERS)
    }
    print(f"boot on {database}: " + ", ".join(f"{s} {t:.1f}s" for s, t in times.items()))


@pytest.mark.trials
@pytest.mark.parametrize("server", list(SERVERS))
@pytest.mark.parametrize("database", DATABASES)
def test_forty_of_forty_processes_boot(database: str, server: str, tmp_path: Path) -> None:
    times = [boot_round(tmp_path / f"round-{n}", server, database) for n in range(10)]
    print(f"{server} on {database}: 40 of 40 processes booted; seconds per round", end=" ")
    print(", ".join(f"{t:.1f}" for t in times))


#: server -> (its command on a port, its exit status when a worker's start-up fails)
FAILING: dict[str, tuple[Callable[[int], list[str]], set[int]]] = {
    # gunicorn exits 3 (WORKER_BOOT_ERROR); 27.0 exits 1 when a second worker's failure raises
    # HaltServer again while the arbiter stops: non-zero either way, so a supervisor restarts it.
    "gunicorn -w 4": (lambda port: gunicorn(port, 4), {1, 3}),
    "uvicorn": (uvicorn, {3}),
    # uvicorn's supervisor stops every worker, but exits 0: see docs/hosting.md
    "uvicorn --workers 4": (lambda port: [*uvicorn(port), "--workers", "4"], {0}),
}


@pytest.mark.parametrize("server", list(FAILING))
def test_a_failed_boot_stops_the_server(server: str, tmp_path: Path) -> None:
    runs_here("failures")
    needs_gunicorn(server)
    args, codes = FAILING[server]
    site = write_site(tmp_path)
    unreachable = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing_here"
    process = Process(site, args(free_port()), site_env(unreachable), tmp_path / "server.log")
    returned = process.wait(BOOT_SECONDS)
    output = process.output()
    assert f"SchemaError: regstack's database {unreachable} cannot be reached" in output
    assert "Application startup failed. Exiting." in output
    if server.startswith("gunicorn"):
        # gunicorn < 27: "Reason: Worker failed to boot."; 27: HaltServer 'Worker failed to boot.'
        assert "Worker failed to boot." in output
    if server == "uvicorn --workers 4":
        assert "failed to start, stopping the parent process" in output
    assert returned in codes, output
