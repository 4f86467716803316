"""The processes of one trial site (uvicorn, workers, relay, redis-server) and how to kill them.

Every process a :class:`Site` started is killed by :meth:`Site.close`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.faults import probe
from support.net import free_port
from support.redis_server import RedisServer
from support.scale_out import project_env

#: Where the processes run (their ``manage.py``, ``testproject`` and ``regstack_django``):
#: this checkout, or ``FAULTS_REPO`` (e.g. an export of another commit, to measure it).
REPO = Path(os.environ.get("FAULTS_REPO") or Path(__file__).resolve().parents[2])
SETTINGS = "support.faults.settings"
API = "/api/auth"
BACKENDS = ("database", "redis")
STARTUP_SECONDS = 60.0
#: Short outbox timings (``FAULTS_INTERFACE``: the testproject's env names).
OUTBOX_ENV = {
    "TESTPROJECT_OUTBOX_LEASE": "10",
    "TESTPROJECT_OUTBOX_POLL_INTERVAL": "0.2",
    "TESTPROJECT_OUTBOX_BACKOFF_MAX": "2",
}


class CrashableRedis(RedisServer):
    """:class:`RedisServer` that can also crash (SIGKILL) and freeze (SIGSTOP)."""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save (persistence is off): the data is gone."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)


class Process:
    """One child process with its own log file; killed on :meth:`Site.close`."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, number: signal.Signals) -> None:
        if self.alive():
            self.popen.send_signal(number)

    def kill(self) -> int:
        """SIGKILL and reap; the exit code."""
        self.signal(signal.SIGKILL)
        return self.popen.wait(10)

    def terminate(self, timeout: float) -> tuple[int, bool]:
        """SIGTERM and wait ``timeout``; then SIGKILL. ``(exit code, exited by itself)``."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout), True
        except subprocess.TimeoutExpired:
            return self.kill(), False

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


_TEMPLATE: dict[str, Path] = {}


def _base_env(var_dir: Path, backend: str, redis_url: str) -> dict[str, str]:
    env = project_env(var_dir, backend, redis_url)
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS
    env.pop("FAULTS_HANDLER_SECONDS", None)
    return env


def template_database() -> Path:
    """A migrated ``db.sqlite3`` (built once per process, in a temporary directory)."""
    if "db" not in _TEMPLATE:
        var_dir = Path(tempfile.mkdtemp(prefix="faults-template-", dir=_tmp_root()))
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=REPO,
            env=_base_env(var_dir, "database", "redis://127.0.0.1:1/0"),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")
        _TEMPLATE["db"] = var_dir / "db.sqlite3"
    return _TEMPLATE["db"]


def _tmp_root() -> str | None:
    """tmpfs when there is one: SQLite's fsyncs would otherwise dominate every trial."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@dataclass
class Site:
    """One backend, durable or not, on ``workdir``; see the module docstring."""

    workdir: Path
    backend: str
    #: Which probe entries (``settings.FAULTS_ENTRIES``): ``today``, ``durable`` or both.
    modes: tuple[str, ...] = ("today", "durable")
    #: ``REGSTACK_OUTBOX_LEASE`` (seconds) of every process.
    lease: float = 10.0
    redis: CrashableRedis | None = None
    server: Process | None = None
    relay: Process | None = None
    base_url: str = ""
    workers: list[Process] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    _counter: int = 0

    @property
    def durable(self) -> bool:
        """Whether a durable entry is configured (then the relay runs)."""
        return "durable" in self.modes

    @property
    def var_dir(self) -> Path:
        return self.workdir / "var"

    def env(self, **extra: str) -> dict[str, str]:
        redis_url = self.redis.url() if self.redis is not None else "redis://127.0.0.1:1/0"
        env = _base_env(self.var_dir, self.backend, redis_url)
        env.update(OUTBOX_ENV, FAULTS_ENTRIES=",".join(self.modes), **extra)
        env["TESTPROJECT_OUTBOX_LEASE"] = f"{self.lease:g}"
        return env

    # ------------------------------------------------------------------ life cycle

    def open(self) -> Site:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(template_database(), self.var_dir / "db.sqlite3")
        probe.create(self.var_dir)
        if self.backend == "redis":
            self.redis = CrashableRedis(self.workdir / "redis")
            self.redis.start()
        return self

    def close(self) -> None:
        """Kill every process still running (thawed first), and Redis."""
        for process in self.processes:
            if process.alive():
                process.thaw()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.kill()
        if self.redis is not None:
            self.redis.kill()

    def spawn(self, name: str, command: list[str], **env: str) -> Process:
        self._counter += 1
        log_path = self.workdir / f"{self._counter:03d}-{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                command, cwd=REPO, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT
            )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def start_server(self) -> Process:
        """uvicorn on a free loopback port; returns once regstack answers."""
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "testproject.asgi:application"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "on"]
        command += ["--log-level", "warning", "--no-access-log"]
        self.server = self.spawn("server", command)
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if not self.server.alive():
                raise RuntimeError(f"uvicorn exited:\n{self.server.log()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{self.base_url}{API}/openapi.json", timeout=2)
                return self.server
            time.sleep(0.05)
        raise RuntimeError(f"uvicorn did not answer in {STARTUP_SECONDS:g} s")

    def start_worker(self, handler_seconds: float = 0.0) -> Process:
        """One worker of the site's backend (not waiting for it to be ready)."""
        name = f"worker{len(self.workers) + 1}"
        manage = [sys.executable, "manage.py"]
        if self.backend == "database":
            command = [*manage, "db_worker", "--no-reload", "--no-startup-delay"]
            command += ["--interval", "0.1", "--worker-id", name]
        else:
            command = [*manage, "run_redis_tasks", "--continuous", "--interval", "0.1"]
        worker = self.spawn(name, command, FAULTS_HANDLER_SECONDS=str(handler_seconds))
        self.workers.append(worker)
        return worker

    def start_relay(self) -> Process:
        self.relay = self.spawn(
            "relay", [sys.executable, "manage.py", "regstack_relay", "--interval", "0.2"]
        )
        return self.relay

    def live_workers(self) -> list[Process]:
        return [worker for worker in self.workers if worker.alive()]

    # ------------------------------------------------------------------ reads

    def query(self, sql: str, *params: object, db: str = "db.sqlite3") -> list[tuple[object, ...]]:
        with contextlib.closing(sqlite3.connect(self.var_dir / db, timeout=30)) as connection:
            return connection.execute(sql, params).fetchall()

    def deliveries(self, mode: str | None = None) -> list[tuple[str, str, str, int]]:
        """``(key, event, event_id, pid)`` of every delivery so far (of one entry, or all)."""
        sql = "SELECT key, event, event_id, pid FROM delivery"
        rows = (
            self.query(f"{sql} WHERE mode = ?", mode, db="faults.sqlite3")
            if mode
            else (self.query(sql, db="faults.sqlite3"))
        )
        return [(str(k), str(e), str(i), int(str(p))) for k, e, i, p in rows]

    def delivered_by(self, pid: int) -> int:
        rows = self.query("SELECT count(*) FROM delivery WHERE pid = ?", pid, db="faults.sqlite3")
        return int(str(rows[0][0]))

    def handouts(self) -> tuple[int, float, int]:
        """The outbox's ``(rows, hand-outs per row on average, most hand-outs of one row)``."""
        ((rows, average, most),) = self.query(
            "SELECT count(*), avg(attempts), max(attempts) FROM regstack_django_outboxevent"
        )
        return int(str(rows)), float(str(average or 0)), int(str(most or 0))

    def server_logs(self) -> str:
        """Every server process's output, in start order (restarts append)."""
        return "".join(p.log() for p in self.processes if p.name == "server")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name} ({p.log_path.name})\n{p.log()[-tail:]}" for p in self.processes
        )


@contextlib.contextmanager
def site(
    workdir: Path, backend: str, modes: tuple[str, ...] = ("today", "durable"), lease: float = 10.0
) -> Iterator[Site]:
    """An opened :class:`Site` (Redis up for that backend; nothing else yet), closed after."""
    opened = Site(workdir=workdir, backend=backend, modes=modes, lease=lease)
    try:
        yield opened.open()
    finally:
        opened.close()
