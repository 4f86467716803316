"""Every benchmark command the README lists runs to the end, in a few rounds and writing no doc.

The noxfile runs these on one leg each (the benchmarks import no test code, so only a run
proves they still work); ``--smoke`` is each command's small size.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest

from support.redis_server import SKIP_REASON, on_ci, redis_server_path

pytestmark = [pytest.mark.regstack, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DOCS = ("docs/benchmarks.md", "docs/load-test.md", "docs/scale-out.md", "docs/background.md")

#: The commands of README.md and docs/ that Django 5.2 runs, with their smoke size.
COMMANDS = [
    ["benchmarks", "--smoke"],
    ["benchmarks.concurrency", "--smoke"],
    ["benchmarks.load", "--smoke"],
    ["benchmarks.secrets_filter", "--smoke"],
    ["benchmarks.enqueue", "--smoke", "--markdown"],
    ["benchmarks.audit", "--smoke"],
    ["benchmarks.login_failed", "--smoke"],
    ["benchmarks.otel", "--smoke"],  # the SDK: the "otel" dependency group, on this leg
    ["benchmarks.auth_middleware", "--smoke"],
]
#: The two that need Django 6.1, the Redis and Celery backends and ``redis-server``.
SCALE_OUT_COMMANDS = [["benchmarks.scale_out", "--smoke"], ["benchmarks.faults", "--smoke"]]
#: The one that needs PostgreSQL (``REGSTACK_TEST_POSTGRES``) and its drivers.
POSTGRES_COMMAND = ["benchmarks.login", "--smoke"]


def run_smoke(args: list[str], timeout: float) -> str:
    """Run ``python -m <args>`` from the repository root; return its output, or fail with it."""
    started = time.monotonic()
    docs_before = {name: (REPO / name).read_bytes() for name in DOCS if (REPO / name).exists()}
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    for name, before in docs_before.items():
        assert (REPO / name).read_bytes() == before, f"a smoke run rewrote {name}"
    print(f"{' '.join(args)}: {time.monotonic() - started:.0f} s")
    return output


@pytest.mark.parametrize("args", COMMANDS, ids=[args[0] for args in COMMANDS])
def test_benchmark_smoke(args: list[str]) -> None:
    run_smoke(args, timeout=240)


@pytest.mark.parametrize("args", SCALE_OUT_COMMANDS, ids=[args[0] for args in SCALE_OUT_COMMANDS])
def test_scale_out_benchmark_smoke(args: list[str]) -> None:
    reason = ""
    if django.VERSION < (6, 1):
        reason = "the scale-out benchmarks run on the Django 6.1 leg"
    elif importlib.util.find_spec("django_tasks_redis") is None:
        reason = "django-tasks-redis not installed (the 'scaleout' dependency group)"
    elif redis_server_path() is None:
        reason = SKIP_REASON
    if reason and on_ci() and django.VERSION >= (6, 1):
        pytest.fail(f"{reason}: CI must run the scale-out benchmarks", pytrace=False)
    if reason:
        pytest.skip(reason)
    run_smoke(args, timeout=300)


def test_login_benchmark_smoke() -> None:
    """The login benchmark on PostgreSQL: three gunicorn servers, a few logins each."""
    missing = [name for name in ("psycopg", "asyncpg") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (the PostgreSQL leg has them)")
    if not os.environ.get("REGSTACK_TEST_POSTGRES"):
        if on_ci():
            pytest.fail("REGSTACK_TEST_POSTGRES is not set: CI must run the login benchmark")
        pytest.skip("REGSTACK_TEST_POSTGRES is not set (a libpq URL of a PostgreSQL server)")
    run_smoke(POSTGRES_COMMAND, timeout=300)
