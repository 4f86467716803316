"""Background handlers with a real Tasks worker: ``manage.py db_worker`` as a subprocess.

The server and workers are other processes; the tests read the site's database through
the ORM on an alias of their own (``support.databases.aliases``), SQLite or PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from django_tasks_db.models import DBTaskResult
from regstack import RegStack

from regstack_django.envelope import open_envelope
from support import databases
from testproject.audit.models import BackgroundDelivery

pytestmark = [pytest.mark.regstack, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "manage.py"
API = "/api/auth"
PASSWORD = "worker-test-password-1"
SENDER = f"{RegStack.__module__}.{RegStack.__qualname__}"
PROBE = "testproject.audit.hooks.record_delivery"
PROBE_WITH_SECRETS = "testproject.audit.hooks.record_delivery_with_secrets"
WELCOME = "testproject.audit.hooks.send_welcome_email"
# The console e-mail backend logs "To: <address> | ..." and then the body with the link.
MAIL = re.compile(r"To: (?P<to>\S+) \|.*?(?P<url>https?://\S+\?token=[A-Za-z0-9._~%-]+)", re.S)
STARTUP_SECONDS = 30.0
UVICORN_FLAGS = ("--host", "127.0.0.1", "--lifespan", "on")
WORKER_FLAGS = ("--no-reload", "--no-startup-delay", "--interval", "0.1")
DRAIN_SECONDS = 60.0


_sites = itertools.count()


class Site:
    """The testproject's processes on one temporary var dir, and reads of its database.

    ``database`` is what ``support.databases.testproject_site`` gave: the environment
    that puts the site on PostgreSQL on that leg (empty on SQLite: the var dir's files).
    The reads go through the aliases ``self.db`` (Django's) and ``self.regstack_db``.
    """

    def __init__(self, var_dir: Path, probe_seconds: float, database: dict[str, str]) -> None:
        self.var_dir = var_dir
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
            "TESTPROJECT_VAR_DIR": str(var_dir),
            "TESTPROJECT_DELIVERY_PROBE": "1",
            "TESTPROJECT_DELIVERY_PROBE_SECONDS": str(probe_seconds),
            "PYTHONUNBUFFERED": "1",
            **database,
        }
        number = next(_sites)
        self.db, self.regstack_db = f"site{number}", f"site{number}_regstack"
        entries = databases.site_databases(var_dir, database)
        self.aliases = {self.db: entries["django"], self.regstack_db: entries["regstack"]}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.base = ""

    # ---------------------------------------------------------------- processes

    def manage(self, *args: str) -> str:
        """Run one ``manage.py`` command to completion; its output, or a failure with it."""
        done = subprocess.run(
            [sys.executable, str(MANAGE), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.var_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            args, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()  # the child holds its own copy
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.var_dir / f"{name}.log").read_text(errors="replace")

    def start_server(self) -> None:
        """uvicorn serving ``testproject.asgi`` on a free port; returns once it answers."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        uvicorn = [sys.executable, "-m", "uvicorn", "testproject.asgi:application"]
        self.server = self._spawn("server", [*uvicorn, *UVICORN_FLAGS, "--port", str(port)])
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert self.server.poll() is None, f"the server died:\n{self.log('server')}"
            try:
                httpx.get(f"{self.base}/", timeout=2)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"no server after {STARTUP_SECONDS:g}s"
                time.sleep(0.1)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """``manage.py db_worker`` as production runs it, with a known worker id."""
        return self._spawn(
            name,
            [sys.executable, str(MANAGE), "db_worker", *WORKER_FLAGS, "--worker-id", name],
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)

    # ---------------------------------------------------------------- the API

    def mailed_url(self, email: str) -> str:
        """The token link regstack e-mailed to ``email`` (the server logged the body)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            urls = [m["url"] for m in MAIL.finditer(self.log("server")) if m["to"] == email]
            if urls:
                return urls[-1]
            time.sleep(0.05)
        raise AssertionError(f"no e-mail to {email} in the server's output")

    def sign_up(self, client: httpx.Client, email: str) -> str:
        """Register, verify with the mailed link and log in: the verification link."""
        response = client.post(f"{API}/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        url = self.mailed_url(email)
        (token,) = re.findall(r"token=([^&]+)", url)
        response = client.post(f"{API}/verify", json={"token": token})
        assert response.status_code == 200, response.text
        response = client.post(f"{API}/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return url

    # ---------------------------------------------------------------- the data

    def task_results(self) -> Any:
        """The site's Tasks results (``DBTaskResult``), read through the ORM."""
        return DBTaskResult.objects.using(self.db)

    def delivery_rows(self) -> Any:
        return BackgroundDelivery.objects.using(self.db)

    def statuses(self) -> Counter[str]:
        return Counter(self.task_results().values_list("status", flat=True))

    def tasks(self) -> list[dict[str, Any]]:
        rows = self.task_results().values_list(
            "id", "status", "worker_ids", "exception_class_path", "args_kwargs"
        )
        return [
            {
                "id": id_,
                "status": status,
                "worker_ids": workers,
                "exception": exception,
                "handler": open_envelope(args["args"][0])[0],
            }
            for id_, status, workers, exception, args in rows
        ]

    def deliveries(self) -> list[dict[str, Any]]:
        columns = ("event", "handler", "email", "sender", "user_type", "kwarg_names", "pid")
        return list(self.delivery_rows().values(*columns))

    def password_hashes(self) -> set[str]:
        """Every password hash regstack stored (its ``users`` table, through a cursor)."""
        from django.db import connections

        with connections[self.regstack_db].cursor() as cursor:
            cursor.execute("SELECT hashed_password FROM users")
            return {value for (value,) in cursor.fetchall() if value}

    def wait_for(self, what: str, condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {seconds:g}s"
            time.sleep(0.05)


@pytest.fixture
def make_site(tmp_path: Path, django_db_blocker: Any) -> Iterator[Callable[[float], Site]]:
    """A migrated site factory; every process it started is gone after the test.

    Each site has a database of its own (files in its var dir, or a PostgreSQL pair
    dropped afterwards) that the test reads through the ORM.
    """
    sites: list[Site] = []
    with ExitStack() as stack:
        stack.enter_context(django_db_blocker.unblock())

        def make(probe_seconds: float) -> Site:
            database = stack.enter_context(databases.testproject_site())
            site = Site(tmp_path / f"site{len(sites)}", probe_seconds, database)
            site.var_dir.mkdir()
            sites.append(site)
            stack.callback(site.stop_all)  # before its aliases and databases go (LIFO)
            site.manage("migrate", "-v0")
            stack.enter_context(databases.aliases(site.aliases))
            return site

        yield make


def _stop(process: subprocess.Popen[bytes], *signals: signal.Signals) -> int:
    """Send ``signals`` (a short pause between two) and return the exit code."""
    for number, sig in enumerate(signals):
        if number:
            time.sleep(0.3)
        process.send_signal(sig)
    return process.wait(timeout=20)


USERS = 20
PROBE_SECONDS = 0.1
# Tasks per user: verification_requested (probe, probe with secrets), user_verified
# (probe, the welcome e-mail), user_logged_in (probe).
TASKS_PER_USER = 5
START_AFTER = USERS // 2 - 1
STOP_AFTER = USERS // 2 + 2
EVENTS = ("verification_requested", "user_verified", "user_logged_in")


def test_sigterm_restart_delivers_every_event_exactly_once_without_secrets(
    make_site: Callable[[float], Site],
) -> None:
    """The issue's acceptance: a real worker, stopped part-way and restarted.

    Each delivery sleeps ``PROBE_SECONDS``, so the SIGTERM lands in a task;
    ``docs/background.md`` ("Stop and restart") describes the run.
    """
    site = make_site(PROBE_SECONDS)
    site.start_server()
    emails = [f"user{n:02d}@example.com" for n in range(USERS)]
    urls: dict[str, str] = {}
    running_at_stop: list[str] = []
    first: subprocess.Popen[bytes] | None = None
    with httpx.Client(base_url=site.base, timeout=30) as client:
        for n, email in enumerate(emails):
            urls[email] = site.sign_up(client, email)
            if n == START_AFTER:
                # A backlog first (~5 s of work), so the stop below is part-way on
                # any machine; then the worker runs while the server enqueues more.
                first = site.start_worker("worker-1")
            elif n == STOP_AFTER:
                # Stop the worker while it runs a task, with work still queued.
                assert first is not None
                site.wait_for("worker-1 delivers", lambda: len(site.deliveries()) >= 3, 30)
                site.wait_for("a task running", lambda: site.statuses()["RUNNING"] > 0, 30)
                running_at_stop = [t["id"] for t in site.tasks() if t["status"] == "RUNNING"]
                assert _stop(first, signal.SIGTERM) == 0, site.log("worker-1")
                assert "shutting down gracefully" in site.log("worker-1")
                stopped = site.statuses()
                assert stopped["READY"] > 0, f"the stop was not part-way: {stopped}"
                assert stopped["RUNNING"] == 0, f"a stopped worker left a task running: {stopped}"
    assert first is not None
    second = site.start_worker("worker-2")
    expected_tasks = USERS * TASKS_PER_USER
    site.wait_for(
        "every task finished",
        lambda: (s := site.statuses())["SUCCESSFUL"] + s["FAILED"] == expected_tasks,
        DRAIN_SECONDS,
    )
    assert _stop(second, signal.SIGTERM) == 0, site.log("worker-2")

    tasks = site.tasks()
    assert Counter(t["status"] for t in tasks) == {"SUCCESSFUL": expected_tasks}
    by_id = {t["id"]: t for t in tasks}
    assert [by_id[i]["worker_ids"] for i in running_at_stop] == [["worker-1"]] * len(
        running_at_stop
    ), "the task running at SIGTERM was finished by the worker that had it"
    assert all(len(t["worker_ids"]) == 1 for t in tasks), "a task was claimed twice"
    workers = Counter(t["worker_ids"][0] for t in tasks)
    assert workers.keys() == {"worker-1", "worker-2"}, workers

    # Exactly once: one row per (event, address, handler), written in a worker process.
    deliveries = site.deliveries()
    expected = Counter(
        [(event, email, "record_delivery") for email in emails for event in EVENTS]
        + [("verification_requested", email, "record_delivery_with_secrets") for email in emails]
    )
    assert Counter((d["event"], d["email"], d["handler"]) for d in deliveries) == expected
    assert {d["pid"] for d in deliveries} == {first.pid, second.pid}
    assert site.server is not None
    assert site.server.pid not in {d["pid"] for d in deliveries}
    # The handler got the JSON payload: sender as a dotted name, user as a read-only object.
    assert {d["sender"] for d in deliveries} == {SENDER}
    assert {d["user_type"] for d in deliveries if d["event"] != "verification_requested"} == {
        "PublicUser"
    }
    for d in deliveries:
        names = d["kwarg_names"]
        assert ("url" in names) == (d["handler"] == "record_delivery_with_secrets"), d
        if d["event"] == "verification_requested":
            assert "url_without_token" in names, d
    assert WELCOME in {t["handler"] for t in tasks}

    # What went into the queue: no token, no password hash, unless opted in.
    # Each task carries one signed message (base64 JSON, signed, not encrypted): search
    # the row as stored (every column) and the message's content.
    queued = {
        row["id"]: json.dumps(row, default=str)
        + json.dumps(open_envelope(row["args_kwargs"]["args"][0]))
        for row in site.task_results().values()
    }
    hashes = site.password_hashes()
    assert len(hashes) == USERS
    for id_, text in queued.items():
        for needle in ("$argon2", "hashed_password", *hashes):
            assert needle not in text, f"task {id_} holds a password hash"
    for email, url in urls.items():
        token = url.rsplit("token=", 1)[1]
        holders = [by_id[id_]["handler"] for id_, text in queued.items() if token in text]
        assert holders == [PROBE_WITH_SECRETS], f"the token mailed to {email} is in {holders}"


KILL_PROBE_SECONDS = 2.0
REQUEUE = """
from datetime import timedelta

from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

cutoff = timezone.now() - timedelta(seconds={cutoff})
orphans = DBTaskResult.objects.running().filter(started_at__lt=cutoff)
print("reset", orphans.update(status="READY"))
for row in DBTaskResult.objects.failed().filter(exception_class_path="builtins.SystemExit"):
    import_string(row.task_path).enqueue(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
    print("re-enqueued", row.id)
"""


def test_sigkill_orphans_the_running_task_and_double_sigterm_fails_it(
    make_site: Callable[[float], Site],
) -> None:
    """Pins what ``docs/background.md`` ("When a worker dies") documents.

    One registration enqueues two slow probe tasks (each sleeps
    ``KILL_PROBE_SECONDS`` before it writes its row):

    * SIGKILL during the first: its row stays RUNNING, claimed by the dead
      worker, and no later worker ever runs it (django-tasks-db has no
      stale-task recovery), so the event is lost until an operator acts;
    * SIGTERM twice during the second: the worker aborts the task, which is
      recorded FAILED with ``SystemExit`` (not retried);
    * the operator's remedy (the snippet in the docs) makes a live worker
      deliver both, exactly once each.
    """
    site = make_site(KILL_PROBE_SECONDS)
    site.start_server()
    with httpx.Client(base_url=site.base, timeout=30) as client:
        response = client.post(
            f"{API}/register", json={"email": "kill@example.com", "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
    site.wait_for("two tasks queued", lambda: site.statuses() == {"READY": 2}, 10)

    killed = site.start_worker("worker-killed")
    site.wait_for("a task running", lambda: site.statuses()["RUNNING"] == 1, STARTUP_SECONDS)
    time.sleep(0.5)
    assert _stop(killed, signal.SIGKILL) == -signal.SIGKILL
    (orphan,) = [t for t in site.tasks() if t["status"] == "RUNNING"]
    assert orphan["worker_ids"] == ["worker-killed"]

    aborted = site.start_worker("worker-aborted")
    site.wait_for(
        "the other task running", lambda: site.statuses()["RUNNING"] == 2, STARTUP_SECONDS
    )
    time.sleep(0.3)
    assert _stop(aborted, signal.SIGTERM, signal.SIGTERM) == 0, site.log("worker-aborted")
    assert "terminating current task" in site.log("worker-aborted")
    failed = {t["id"]: t for t in site.tasks()}
    assert Counter(t["status"] for t in failed.values()) == {"RUNNING": 1, "FAILED": 1}
    assert failed[orphan["id"]]["worker_ids"] == ["worker-killed"]
    (aborted_task,) = [t for t in failed.values() if t["status"] == "FAILED"]
    assert aborted_task["exception"] == "builtins.SystemExit"
    assert site.deliveries() == []

    live = site.start_worker("worker-live")
    site.wait_for("worker-live polls", lambda: "Starting worker" in site.log("worker-live"), 30)
    time.sleep(1.0)  # ten polls: the orphan is not ready work for any worker
    assert {t["id"]: t for t in site.tasks()} == failed

    output = site.manage("shell", "-c", REQUEUE.format(cutoff=0))
    assert "reset 1" in output, output
    assert "re-enqueued" in output, output
    site.wait_for(
        "the remedied tasks delivered",
        lambda: site.statuses()["SUCCESSFUL"] == 2,
        DRAIN_SECONDS,
    )
    assert _stop(live, signal.SIGTERM) == 0
    after = {t["id"]: t for t in site.tasks()}
    assert after[orphan["id"]]["worker_ids"] == ["worker-killed", "worker-live"]
    assert Counter(d["handler"] for d in site.deliveries()) == {
        "record_delivery": 1,
        "record_delivery_with_secrets": 1,
    }
    assert {d["pid"] for d in site.deliveries()} == {live.pid}
