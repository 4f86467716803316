"""docs/deployment.md run end to end on PostgreSQL: its Procfile's release, web, worker and relay
lines as real processes, register/login flows over HTTP, then nothing lost, duplicated or stuck.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.databases import pair
from support.faults.processes import Process
from support.net import free_port
from support.redis_server import on_ci

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "deployment.md"
SETTINGS = "testproject.settings_deploy"
API = "/api/auth"
PASSWORD = "deployment-password-1"
VENV_BIN = "/srv/mysite/.venv/bin/"
START_SECONDS = 120.0  # the web line answers, on a busy 2-core machine
SETTLE_SECONDS = 90.0  # the workers catch up after the last flow
STOP_SECONDS = 40.0  # TimeoutStopSec of the web unit
#: A line any process would write for a failure: logging's level, gunicorn's, a traceback,
#: or the relay's own words for a failed pass.
FAILURE = re.compile(r"\bERROR\b|\bCRITICAL\b|Traceback \(most recent call last\)|pass failed")


# -- what the guide says ---------------------------------------------------------------------


def guide_blocks(language: str) -> list[str]:
    """The fenced blocks of ``language`` in docs/deployment.md."""
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def procfile() -> dict[str, str]:
    """``process type -> command`` of the guide's Procfile."""
    [block] = guide_blocks("procfile")
    kinds = dict(line.split(": ", 1) for line in block.strip().splitlines())
    assert set(kinds) == {"release", "web", "worker", "relay"}
    return kinds


def unit_commands() -> dict[str, list[str]]:
    """``unit file -> its ExecStart commands`` in the guide's systemd block, Procfile-spelled."""
    [block] = guide_blocks("ini")
    units: dict[str, list[str]] = {}
    name = ""
    for line in block.splitlines():
        if line.startswith("# /etc/systemd/system/"):
            name = line.rsplit("/", 1)[1]
        elif line.startswith("ExecStart="):
            command = line.removeprefix("ExecStart=").replace("${PORT}", "$PORT")
            units.setdefault(name, []).append(command.replace(VENV_BIN, ""))
    return units


def health_queries() -> list[str]:
    [block] = guide_blocks("sql")
    code = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
    return [query.strip() for query in code.split(";") if query.strip()]


def test_the_systemd_units_run_the_procfile_commands() -> None:
    kinds = procfile()
    assert unit_commands() == {
        "mysite-release.service": kinds["release"].split(" && "),
        "mysite-web.service": [kinds["web"]],
        "mysite-worker@.service": [kinds["worker"]],
        "mysite-relay@.service": [kinds["relay"]],
    }


def test_the_settings_the_guide_shows_are_the_deployment_settings() -> None:
    [settings_block, _regstack, _logging] = guide_blocks("python")
    source = (REPO / "testproject" / "settings_deploy.py").read_text(encoding="utf-8")
    for line in settings_block.splitlines():
        assert line in source, f"docs/deployment.md shows {line!r}; settings_deploy.py lacks it"


# -- the site --------------------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[tuple[str, str]]:
    """Two fresh databases on ``REGSTACK_TEST_POSTGRES``: Django's and regstack's URLs."""
    missing = [name for name in ("psycopg", "asyncpg") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (the PostgreSQL leg has them)")
    server = os.environ.get("REGSTACK_TEST_POSTGRES", "")
    if not server:
        if on_ci():
            pytest.fail("REGSTACK_TEST_POSTGRES is not set: CI must run the deployment test")
        pytest.skip("REGSTACK_TEST_POSTGRES is not set (a libpq URL of a PostgreSQL server)")
    with pair("deploy") as urls:
        yield urls


@dataclass
class Deployment:
    """The Procfile's processes on one pair of databases, their logs under ``workdir``."""

    workdir: Path
    database_url: str
    regstack_url: str
    port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)
    #: One per deployment: every process signs and checks the task messages with it.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What the guide's environment file holds (secrets fresh per deployment), and PATH."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "REGSTACK_", "TESTPROJECT_", "DATABASE_URL"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS,
            DATABASE_URL=self.database_url,
            REGSTACK_DATABASE_URL=self.regstack_url,
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            REGSTACK_JWT_SECRET=self.jwt_secret,
            REGSTACK_BASE_URL=self.base_url,
            TESTPROJECT_VAR_DIR=str(self.workdir / "var"),
            TESTPROJECT_CHEAP_ARGON2="1",
            PORT=str(self.port),
            # The Procfile's `python` and `gunicorn` are this interpreter's.
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(self, kind: str) -> str:
        return procfile()[kind].replace("mysite.", "testproject.").replace("$PORT", str(self.port))

    def release(self) -> None:
        done = subprocess.run(
            ["bash", "-c", self.command("release")],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"release failed:\n{done.stdout}\n{done.stderr}"
        assert "regstack schema: installed" in done.stdout, done.stdout

    def start(self, kind: str) -> Process:
        name = f"{kind}{sum(p.name.startswith(kind) for p in self.processes) + 1}"
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                shlex.split(self.command(kind)),
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def web_is_healthy(self) -> bool:
        """The guide's web check: ``curl -fsS -o /dev/null .../api/auth/openapi.json``."""
        try:
            return httpx.get(f"{self.base_url}{API}/openapi.json", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def wait_for_web(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not self.web_is_healthy():
            dead = [p for p in self.processes if not p.alive()]
            assert not dead, f"{dead[0].name} exited {dead[0].popen.returncode}:\n{self.logs()}"
            assert time.monotonic() < deadline, f"the web line did not answer:\n{self.logs()}"
            time.sleep(0.25)

    def stop(self) -> dict[str, tuple[int, bool]]:
        """One SIGTERM to every process at once; ``name -> (status, stopped by itself)``.

        One only: a second SIGTERM tells ``db_worker`` to abort the task it is finishing.
        """
        for process in self.processes:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        stopped: dict[str, tuple[int, bool]] = {}
        for process in self.processes:
            try:
                left = max(0.1, deadline - time.monotonic())
                stopped[process.name] = (process.popen.wait(left), True)
            except subprocess.TimeoutExpired:
                stopped[process.name] = (process.kill(), False)
        return stopped

    def kill_all(self) -> None:
        for process in self.processes:
            if process.alive():
                process.kill()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-tail:]}" for p in self.processes)

    def query(self, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            return list(connection.execute(sql).fetchall())  # type: ignore[arg-type]


@dataclass
class Flows:
    """What the HTTP client saw: the addresses that registered (201) and logged in (200)."""

    registered: list[str] = field(default_factory=list)
    logged_in: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def run_flows(base_url: str, count: int, concurrency: int, limit: float) -> Flows:
    """``count`` users register then log in, ``concurrency`` at a time, within ``limit`` s."""
    flows = Flows()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def lane() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            while not queue.empty():
                email = f"deploy-{queue.get_nowait()}@example.com"
                body = {"email": email, "password": PASSWORD}
                response = await client.post(f"{API}/register", json=body)
                if response.status_code != 201:
                    flows.failures.append(f"register {email}: {response.status_code}")
                    continue
                flows.registered.append(email)
                response = await client.post(f"{API}/login", json=body)
                if response.status_code != 200:
                    flows.failures.append(f"login {email}: {response.status_code}")
                    continue
                flows.logged_in.append(email)

    started = time.monotonic()
    async with asyncio.timeout(limit):
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    flows.seconds = time.monotonic() - started
    return flows


DELIVERIES = "SELECT event, email, event_id::text, pid FROM audit_backgrounddelivery"


def settled(deployment: Deployment, expected: int) -> list[tuple[str, str, str, int]]:
    """Wait until ``expected`` deliveries exist and no task or outbox row is left; the rows."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        rows = deployment.query(DELIVERIES)
        ((left,),) = deployment.query(
            "SELECT (SELECT count(*) FROM django_tasks_database_dbtaskresult"
            "        WHERE status IN ('READY', 'RUNNING'))"
            "     + (SELECT count(*) FROM regstack_django_outboxevent"
            "        WHERE delivered_at IS NULL)"
        )
        if (len(rows) >= expected and not left) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(1.0)  # a late duplicate would land now
    rows = deployment.query(
        "SELECT event, email, event_id::text, pid FROM audit_backgrounddelivery"
    )
    return [(str(e), str(m), str(i), int(str(p))) for e, m, i, p in rows]


@pytest.mark.regstack
@pytest.mark.parametrize(
    ("count", "concurrency"),
    [
        pytest.param(500, 10, marks=pytest.mark.slow, id="500-flows"),
        pytest.param(3000, 25, marks=pytest.mark.trials, id="3000-flows"),
    ],
)
def test_the_guide_deploys_on_postgresql(
    postgres: tuple[str, str], tmp_path: Path, count: int, concurrency: int
) -> None:
    started = time.monotonic()
    deployment = Deployment(tmp_path, *postgres)
    (tmp_path / "var").mkdir()
    try:
        deployment.release()
        released = time.monotonic()
        deployment.start("web")
        workers = [deployment.start("worker") for _ in range(2)]
        for _ in range(2):
            deployment.start("relay")
        deployment.wait_for_web()
        up = time.monotonic()
        flows = asyncio.run(run_flows(deployment.base_url, count, concurrency, limit=count * 1.0))
        rows = settled(deployment, len(flows.registered) + len(flows.logged_in))
        drained = time.monotonic()
        outbox = deployment.query(
            "SELECT count(*), count(delivered_at), max(attempts) FROM regstack_django_outboxevent"
        )
        tasks = dict(
            deployment.query(
                "SELECT status, count(*) FROM django_tasks_database_dbtaskresult GROUP BY status"
            )
        )
        health = [deployment.query(sql)[0][0] for sql in health_queries()]
        web_healthy = deployment.web_is_healthy()
        alive = {p.name: p.alive() for p in deployment.processes}
        stopped = deployment.stop()
    finally:
        deployment.kill_all()
    logs = {p.name: p.log() for p in deployment.processes}
    rate = 2 * count / flows.seconds
    print(
        f"{count} flows at {concurrency}: release {released - started:.0f}s, up "
        f"{up - released:.0f}s, flows {flows.seconds:.1f}s ({rate:.1f} requests/s), "
        f"drained {drained - up - flows.seconds:.1f}s later, {time.monotonic() - started:.0f}s "
        f"in all; {len(rows)} deliveries; outbox {outbox[0]}; tasks {tasks}"
    )

    # Every request answered.
    assert not flows.failures, flows.failures[:5]
    assert len(flows.registered) == len(flows.logged_in) == count
    # The durable handler: every registration once, by event_id too (0 lost, 0 duplicated).
    durable = [row for row in rows if row[0] == "user_registered"]
    assert Counter(email for _, email, _, _ in durable) == Counter(flows.registered)
    per_event_id = Counter(event_id for _, _, event_id, _ in durable)
    assert len(per_event_id) == count
    assert max(per_event_id.values()) == 1, per_event_id.most_common(3)
    # The plain background handler: every login once.
    plain = [row for row in rows if row[0] == "user_logged_in"]
    assert Counter(email for _, email, _, _ in plain) == Counter(flows.logged_in)
    assert len({event_id for _, _, event_id, _ in plain}) == count
    # Two workers ran them; nothing is stuck.
    assert {pid for *_, pid in rows} == {worker.pid for worker in workers}
    ((rows_written, rows_delivered, _most_attempts),) = outbox
    assert rows_written == rows_delivered == count
    assert tasks == {"SUCCESSFUL": 2 * count}
    # Healthy by the guide's checks, every process up to the end, and down on SIGTERM with 0.
    assert health == [0] * len(health)
    assert web_healthy
    assert all(alive.values()), alive
    assert stopped == {p.name: (0, True) for p in deployment.processes}
    # No process logged a failure.
    failures = {
        name: [line for line in text.splitlines() if FAILURE.search(line)]
        for name, text in logs.items()
    }
    assert not any(failures.values()), {name: lines[:5] for name, lines in failures.items()}
