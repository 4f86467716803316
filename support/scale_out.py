"""Run the testproject scaled out: uvicorn, Tasks workers, Redis, and real HTTP load.

Shared by tests/project/test_scale_out.py (the proofs) and benchmarks/scale_out.py (the figures),
so both measure the same system.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.net import free_port
from support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[1]
SETTINGS = "testproject.settings_scale_out"
API = "/api/auth"
PASSWORD = "scale-out-password-1"
BACKENDS = ("redis", "celery")

#: The events :func:`produce` fires (``testproject.settings_scale_out.SCALE_OUT_EVENTS``).
EVENTS = ("user_registered", "user_logged_in", "user_logged_out", "password_reset_requested")

Key = tuple[str, str]
"""``(event, email)``: what one delivery is counted under."""


def project_env(var_dir: Path, backend: str, redis_url: str) -> dict[str, str]:
    """The environment of every process of the site (nothing inherited from ours)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REGSTACK_", "TESTPROJECT_", "CELERY"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        TESTPROJECT_VAR_DIR=str(var_dir),
        TESTPROJECT_TASKS_BACKEND=backend,
        TESTPROJECT_REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Worker:
    """One worker process; :meth:`stop` stops it gracefully (SIGTERM) and reports how."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (both workers finish the running task, start no other); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
            raise AssertionError(f"worker {self.name} ignored SIGTERM for {timeout} s") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Site:
    """The testproject with one Tasks backend: server, workers, their logs under ``workdir``."""

    workdir: Path
    backend: str
    redis: RedisServer
    server: subprocess.Popen[bytes] | None = None
    base_url: str = ""
    workers: list[Worker] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        return self.redis.url()

    @property
    def var_dir(self) -> Path:
        return self.workdir / "var"

    @property
    def env(self) -> dict[str, str]:
        return {**project_env(self.var_dir, self.backend, self.redis_url), **self.extra_env}

    @property
    def server_log_path(self) -> Path:
        return self.workdir / "server.log"

    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def migrate(self) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")

    def start_server(self, timeout: float = 60.0) -> str:
        """Start uvicorn on a free loopback port; return its base URL once it answers."""
        port = free_port()
        self.server = self._spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "testproject.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            self.server_log_path,
        )
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{self.server_log()}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{self.base_url}{API}/openapi.json", timeout=2)
                return self.base_url
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer in {timeout} s:\n{self.server_log()}")

    def server_log(self) -> str:
        return self.server_log_path.read_text(errors="replace")

    def start_worker(self, name: str) -> Worker:
        """Start one worker of the site's backend (not waiting for it to be ready)."""
        log_path = self.workdir / f"worker-{name}.log"
        if self.backend == "database":  # the baseline (benchmarks only)
            command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2"]
        elif self.backend == "redis":
            command = [sys.executable, "manage.py", "run_redis_tasks", "--continuous"]
        elif self.backend == "celery":
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "testproject.celery_app",
                "worker",
                "--pool=solo",  # one process per worker: "two workers" means two processes
                "--hostname",
                f"{name}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        else:
            raise ValueError(f"no worker command for backend {self.backend!r}")
        worker = Worker(name, self._spawn(command, log_path), log_path)
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        """Stop every worker and the server (used on the way out, errors or not)."""
        for worker in self.workers:
            if worker.process.poll() is None:
                with contextlib.suppress(AssertionError):
                    worker.stop(timeout=15)
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(5)

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        parts = [f"--- server\n{self.server_log()[-4000:]}"]
        parts += [f"--- worker {w.name}\n{w.log()[-4000:]}" for w in self.workers]
        return "\n".join(parts)


@contextlib.contextmanager
def running_site(
    workdir: Path, backend: str, redis: RedisServer, extra_env: dict[str, str] | None = None
) -> Iterator[Site]:
    """A migrated site with its server up (no workers yet); everything stopped after."""
    site = Site(workdir=workdir, backend=backend, redis=redis, extra_env=extra_env or {})
    site.var_dir.mkdir(parents=True, exist_ok=True)
    try:
        site.migrate()
        site.start_server()
        yield site
    finally:
        site.stop()


def emails(tag: str, count: int) -> list[str]:
    """``count`` fresh addresses; ``tag`` keeps batches apart in one database."""
    return [f"{tag}-{n}@example.com" for n in range(count)]


async def _user_flow(client: httpx.AsyncClient, email: str, resets: int) -> Counter[Key]:
    """One user: register, log in, log out, ``resets`` reset requests; the events fired."""
    fired: Counter[Key] = Counter()

    async def post(path: str, expected: int, **kwargs: Any) -> httpx.Response:
        response = await client.post(f"{API}{path}", **kwargs)
        if response.status_code != expected:
            raise AssertionError(f"POST {path} for {email}: {response.status_code} {response.text}")
        return response

    await post("/register", 201, json={"email": email, "password": PASSWORD})
    fired["user_registered", email] += 1
    login = await post("/login", 200, json={"email": email, "password": PASSWORD})
    fired["user_logged_in", email] += 1
    token = login.json()["access_token"]
    await post("/logout", 200, headers={"Authorization": f"Bearer {token}"})
    fired["user_logged_out", email] += 1
    for _ in range(resets):
        await post("/forgot-password", 202, json={"email": email})
        fired["password_reset_requested", email] += 1
    return fired


def events_per_user(resets: int) -> int:
    return 3 + resets


async def produce(
    base_url: str, users: list[str], *, resets: int, concurrency: int = 4
) -> Counter[Key]:
    """Run :func:`_user_flow` for every address, ``concurrency`` users at a time.

    Returns how often each ``(event, email)`` fired, counted from the HTTP
    answers (a route answers after its events have been dispatched, so every
    background task is enqueued by then).
    """
    fired: Counter[Key] = Counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for email in users:
        queue.put_nowait(email)

    async def lane() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            while not queue.empty():
                fired.update(await _user_flow(client, queue.get_nowait(), resets))

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return fired


def delivery_times(var_dir: Path, tag: str) -> list[datetime.datetime]:
    """When each delivery of batch ``tag`` was recorded (by the worker, in UTC)."""
    database = var_dir / "db.sqlite3"
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute(
            "SELECT created_at FROM audit_backgrounddelivery WHERE email LIKE ?", (f"{tag}-%",)
        )
        return sorted(datetime.datetime.fromisoformat(value) for (value,) in rows)


def deliveries(var_dir: Path) -> list[tuple[str, str, int]]:
    """``(event, email, worker pid)`` of every ``BackgroundDelivery`` row so far."""
    database = var_dir / "db.sqlite3"
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute("SELECT event, email, pid FROM audit_backgrounddelivery")
        return [(event, email, pid) for event, email, pid in rows]


def wait_for_deliveries(
    var_dir: Path, total: int, timeout: float, *, settle: float = 1.0
) -> list[tuple[str, str, int]]:
    """Poll until ``total`` rows exist (then ``settle`` more seconds, to catch extras)."""
    deadline = time.monotonic() + timeout
    rows = deliveries(var_dir)
    while len(rows) < total and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = deliveries(var_dir)
    if len(rows) >= total and settle:
        time.sleep(settle)
        rows = deliveries(var_dir)
    return rows


def delivered_counts(rows: list[tuple[str, str, int]]) -> Counter[Key]:
    return Counter((event, email) for event, email, _pid in rows)


_LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9._~%-]+)")


def reset_link_tokens(server_log: str) -> list[str]:
    """The live tokens of the e-mailed links, read from the server's console e-mail."""
    return _LINK_TOKEN.findall(server_log)


def password_hashes(var_dir: Path) -> list[str]:
    """Every ``hashed_password`` in regstack's own database (its users table)."""
    database = var_dir / "regstack.sqlite3"
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master")]
        found: list[str] = []
        for table in tables:
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info('{table}')")]
            if "hashed_password" in columns:
                query = f"SELECT hashed_password FROM '{table}' WHERE hashed_password IS NOT NULL"
                found += [value for (value,) in connection.execute(query)]
        return found


def _decoded_messages(raw: bytes) -> list[str]:
    """What base64 hides from a text search, decoded.

    Celery's messages in Redis carry their body base64-encoded, and every task's
    argument is regstack_django's signed message (base64 JSON + signature): both
    are decoded, so the search for secrets sees what they carry.
    """
    from regstack_django.envelope import UntrustedMessage, open_envelope

    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return []
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            body = node.get("body")
            encoding = properties.get("body_encoding") if isinstance(properties, dict) else None
            if encoding == "base64" and isinstance(body, str):
                decoded = base64.b64decode(body).decode("utf-8", "replace")
                found.append(decoded)
                with contextlib.suppress(ValueError):
                    walk(json.loads(decoded))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and ":" in node and len(node) > 40:
            with contextlib.suppress(UntrustedMessage):
                found.append(json.dumps(open_envelope(node)))

    walk(document)
    return found


def _raw_values(value: object) -> list[bytes]:
    """The byte strings of one key's value (a string, a hash's fields, a list's items)."""
    if isinstance(value, bytes):
        return [value]
    items = value.values() if isinstance(value, dict) else value
    if isinstance(items, list | set | type({}.values())):
        return [item for item in items if isinstance(item, bytes)]
    return []


def redis_contents(redis_url: str) -> str:
    """Every key in the Redis database and its value(s), as one text to search.

    Streams (django-tasks-redis' queue), hashes (its task records), lists
    (Celery's queue), strings (Celery's results) and sets/sorted sets (the
    indexes) are all rendered, so nothing the backends stored escapes the check.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    parts: list[str] = []
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            if kind == "string":
                value: object = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                value = f"<{kind}>"
            parts.append(f"{key!r} ({kind}): {value!r}")
            for raw in _raw_values(value):
                parts += [f"  decoded: {body}" for body in _decoded_messages(raw)]
    finally:
        client.close()
    return "\n".join(parts)
