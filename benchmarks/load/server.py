"""One load run: the uvicorn server, the closed-loop client, and what the server recorded."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from benchmarks.load.runs import (
    API_PREFIX,
    EXCEPTION_LINE,
    FAILURE_LINE,
    FRAME_LINE,
    KINDS,
    LOG_RECORD,
    PASSWORD,
    RECEIVER_EXCEPTIONS,
    RECEIVER_PATHS,
    REPO_ROOT,
    ROUTER,
    WARMUP_USERS,
    Crash,
    Delivery,
    Run,
    Sample,
)
from support.machine import load_average
from support.net import free_port


def server_env(settings_module: str, var_dir: Path) -> dict[str, str]:
    """Production-like settings (DEBUG off) on throw-away files and secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGSTACK_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        TESTPROJECT_VAR_DIR=str(var_dir),
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        REGSTACK_JWT_SECRET=secrets.token_urlsafe(48),
        REGSTACK_BASE_URL="http://127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def served(
    settings_module: str,
    var_dir: Path,
    log_path: Path,
    start_timeout: float,
    extra_env: dict[str, str] | None = None,
):
    """``migrate``, start uvicorn, wait until it answers; yield its base URL; stop it."""
    env = {**server_env(settings_module, var_dir), **(extra_env or {})}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0", "--no-input"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "testproject.asgi:application",
        "--host", "127.0.0.1", "--port", str(port),
        "--lifespan", "on", "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, base_url, log_path, start_timeout)
        yield base_url, process
    finally:
        stop(process)


def wait_until_up(
    process: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout: float
) -> None:
    """Poll a regstack route that fires no event (``GET /me``: 401) until it answers."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                client.get(f"{API_PREFIX}/me")
                return
            time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not answer within {timeout:g}s:\n{tail(log_path)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully, lifespan included); SIGKILL after 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_request(client: httpx.AsyncClient, kind: str, email: str) -> Sample:
    path, expected, _event = KINDS[kind]
    body = {"email": email, "password": PASSWORD}
    start = time.perf_counter()
    try:
        response = await client.post(f"{API_PREFIX}{path}", json=body)
    except httpx.HTTPError as exc:
        seconds = time.perf_counter() - start
        return Sample(kind, email, None, seconds, f"{exc!r} after {seconds:.1f}s")
    seconds = time.perf_counter() - start
    detail = "" if response.status_code == expected else response.text[:300]
    return Sample(kind, email, response.status_code, seconds, detail)


async def user_flow(client: httpx.AsyncClient, email: str, login: bool) -> list[Sample]:
    """Register, then (if asked, and only after a 201) log the same user in."""
    samples = [await one_request(client, "register", email)]
    if login and samples[0].status == KINDS["register"][1]:
        samples.append(await one_request(client, "login", email))
    return samples


async def drive(run: Run, base_url: str, pid: int, args: argparse.Namespace, tag: str) -> None:
    """Warm up, then run ``args.requests`` requests with ``args.concurrency`` in flight."""
    users = math.ceil(args.requests / 2)
    logins = args.requests - users
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    timeout = httpx.Timeout(args.request_timeout)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=timeout, trust_env=False
    ) as client:
        for i in range(WARMUP_USERS):  # first-use costs (imports, threads, connections)
            run.warmup.extend(await user_flow(client, f"warm-{tag}-{i}@example.com", login=True))

        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(users):
            queue.put_nowait(i)

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                email = f"load-{tag}-{i:05d}@example.com"
                samples = await user_flow(client, email, login=i < logins)
                run.samples.extend(samples)

        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(args.run_timeout):
                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        except TimeoutError:
            run.timed_out = True
        run.seconds = time.perf_counter() - start
        run.server_cpu = cpu_seconds(pid) - cpu


def read_delivery(var_dir: Path, log_path: Path) -> Delivery:
    """Audit rows and probe calls per ``(event, email)``; failure lines from the log."""
    delivery = Delivery()
    with contextlib.closing(sqlite3.connect(var_dir / "db.sqlite3")) as db:
        for event, email, count in db.execute(
            "SELECT event, email, COUNT(*) FROM audit_auditevent GROUP BY event, email"
        ):
            delivery.audit[(event, email)] = count
    probe_log = var_dir / "load_probes.log"
    if probe_log.exists():
        for line in probe_log.read_text().splitlines():
            probe, event, email = line.split("\t")
            delivery.probes.setdefault(probe, Counter())[(event, email)] += 1
    crash: list[str] | None = None
    for line in [*log_path.read_text(errors="replace").splitlines(), "END OF LOG"]:
        if crash is not None and not LOG_RECORD.match(line):
            crash.append(line)
            continue
        if crash is not None:
            delivery.crashes.append(to_crash(crash))
            crash = None
        if match := FAILURE_LINE.match(line):
            delivery.failures_logged[(match.group(1), match.group(2))] += 1
        elif line.startswith("ERROR:") and "Exception in ASGI application" in line:
            crash = []
        elif line.startswith(("ERROR", "CRITICAL")):
            delivery.other_errors.append(line)
    return delivery


def to_crash(lines: list[str]) -> Crash:
    """The traceback's final exception and innermost frame; is the bridge or a receiver in it?

    Every request passes through ``regstack_django/asgi.py`` (the path router
    composing Django and FastAPI), so its frames blame nothing; a frame of the
    dispatch machinery, of a receiver module, or a receiver's exception does.
    """
    finals = [line for line in lines if EXCEPTION_LINE.match(line)]
    frames = [m for line in lines if (m := FRAME_LINE.match(line))]
    blamed = any(
        (any(part in m.group(1) for part in RECEIVER_PATHS) and not m.group(1).endswith(ROUTER))
        for m in frames
    ) or any(name in line for line in finals for name in RECEIVER_EXCEPTIONS)
    # The innermost frame of regstack or of this repository says more than aiosqlite's thread.
    ours = [m for m in frames if "/regstack/" in m.group(1) or "site-packages" not in m.group(1)]
    where = "?"
    if ours or frames:
        path, line_no, function = (ours or frames)[-1].groups()
        short = path.split("site-packages/")[-1].replace(f"{REPO_ROOT}/", "")
        where = f"{short}:{line_no} in {function}"
    return Crash(exception=finals[-1] if finals else "?", where=where, blames_receiver=blamed)


def run_once(label: str, settings: str, bridge: bool, args: argparse.Namespace) -> Run:
    run = Run(label=label, settings=settings, bridge=bridge, load_before=load_average())
    var_dir = Path(tempfile.mkdtemp(prefix=f"regstack_django_load_{label.replace(' ', '')}_"))
    log_path = var_dir / "server.log"
    print(f"[{label}] settings {settings}, files in {var_dir}", flush=True)
    try:
        with served(settings, var_dir, log_path, args.start_timeout) as (base_url, process):
            print(f"[{label}] uvicorn up at {base_url}; {args.requests} requests, "
                  f"{args.concurrency} in flight ...", flush=True)  # fmt: skip
            asyncio.run(drive(run, base_url, process.pid, args, secrets.token_hex(3)))
        run.delivery = read_delivery(var_dir, log_path)
    finally:
        if args.keep:
            print(f"[{label}] kept {var_dir}", flush=True)
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    print(f"[{label}] {len(run.samples)} requests in {run.seconds:.1f}s", flush=True)
    return run
