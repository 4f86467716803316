"""The whole test matrix: ``bash scripts/test`` runs ``nox`` with these sessions.

Four Python x Django legs and ``lint``. A leg without its interpreter is skipped; on CI it fails.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

PYPROJECT = nox.project.load_toml("pyproject.toml")
LEGS = [("3.11", "5.2"), ("3.13", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")]
# The one leg that runs tests/project/test_scale_out.py (real Redis + worker
# processes, ~90 s); every 6.x leg installs the "scaleout" group all the same.
SCALE_OUT_LEG = ("3.13", "6.1")
SCALE_OUT_TEST = "tests/project/test_scale_out.py"
# The testproject's end-to-end suite (real uvicorn, runserver, db_worker, relay;
# about 2.5 minutes a leg) runs whole on the oldest and the newest leg. Python
# 3.13 + Django 5.2 runs its real-worker tests (the Tasks backport on a Python
# that is not 3.11); Django 6.0 runs the main suite only.
PROJECT_SUITE = {("3.11", "5.2"): ["tests/project"], SCALE_OUT_LEG: ["tests/project"]}
PROJECT_SUITE[("3.13", "5.2")] = [
    "tests/project/test_worker.py",
    "tests/project/test_durable_worker.py",
]
# A smoke of every benchmark command the README lists (a few rounds, no doc), each on one
# leg: the ones Django 5.2 runs on the oldest leg (~1-2 minutes), the scale-out two
# (Redis, Celery, Django 6.1) on the scale-out leg.
BENCHMARK_SMOKE = "tests/benchmarks/test_smoke.py"
BENCHMARK_SMOKE_LEGS = {
    ("3.11", "5.2"): f"{BENCHMARK_SMOKE}::test_benchmark_smoke",
    SCALE_OUT_LEG: f"{BENCHMARK_SMOKE}::test_scale_out_benchmark_smoke",
    # The login benchmark needs PostgreSQL and its drivers: the PostgreSQL leg (~30 s).
    ("3.12", "6.0"): f"{BENCHMARK_SMOKE}::test_login_benchmark_smoke",
}


def _django(version: str) -> str:
    major, minor = version.split(".")
    return f"django>={version},<{major}.{int(minor) + 1}"


@nox.session
@nox.parametrize(("python", "django"), LEGS, ids=[f"py{p}-django{d}" for p, d in LEGS])
def tests(session: nox.Session, django: str) -> None:
    """The pytest suite on one Python x Django leg."""
    extras = "regstack,tasks" if django.startswith("5.") else "regstack"
    groups = ["test"] if django.startswith("5.") else ["test", "scaleout"]
    session.install(
        "-e", f".[{extras}]", _django(django), *nox.project.dependency_groups(PYPROJECT, *groups)
    )
    session.run("python", "-m", "pytest", f"--ignore={BENCHMARK_SMOKE}", *session.posargs)
    smoke = BENCHMARK_SMOKE_LEGS.get((str(session.python), django))
    if not session.posargs and smoke:
        session.run("python", "-m", "pytest", smoke)
    # The testproject's end-to-end tests need its own settings: a second run.
    paths = PROJECT_SUITE.get((str(session.python), django))
    if not session.posargs and paths:
        scale_out = (session.python, django) == SCALE_OUT_LEG
        skip = [] if scale_out else [f"--ignore={SCALE_OUT_TEST}"]
        session.run("python", "-m", "pytest", *paths, "--ds=testproject.settings", *skip)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (lint + format) and mypy strict with django-stubs on regstack_django/."""
    session.install(
        "-e", ".[regstack,tasks]", _django("5.2"), *nox.project.dependency_groups(PYPROJECT, "lint")
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=SCALE_OUT_LEG[0])
def trials(session: nox.Session) -> None:
    """The long fault trials (not in the default run): ``bash scripts/test -s trials``.

    Tests marked ``trials``: many random kills, freezes and restarts of real
    workers and brokers, each bounded in count and time. Extra arguments go to
    pytest, e.g. ``-s trials -- -k sigkill``.
    """
    session.install(
        "-e",
        ".[regstack]",
        _django(SCALE_OUT_LEG[1]),
        *nox.project.dependency_groups(PYPROJECT, "test", "scaleout"),
    )
    # Exit 5 (nothing selected) is fine for either half: trials live in both.
    session.run("python", "-m", "pytest", "-m", "trials", *session.posargs, success_codes=[0, 5])
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/project",
        "--ds=testproject.settings",
        "-m",
        "trials",
        *session.posargs,
        success_codes=[0, 5],
    )


@nox.session(python=SCALE_OUT_LEG[0])
def scale_out_benchmark(session: nox.Session) -> None:
    """Scale-out figures (not in the default run): ``bash scripts/test -s scale_out_benchmark``.

    Deliveries per second with one and two workers, and the enqueue cost per
    event on the database, Redis and Celery backends, into docs/scale-out.md.
    """
    session.install(
        "-e",
        ".[regstack]",
        _django(SCALE_OUT_LEG[1]),
        *nox.project.dependency_groups(PYPROJECT, "test", "scaleout"),
    )
    session.run("python", "-m", "benchmarks.scale_out", *session.posargs)


@nox.session
@nox.parametrize(("python", "django"), LEGS, ids=[f"py{p}-django{d}" for p, d in LEGS])
def benchmarks(session: nox.Session, django: str) -> None:
    """Dispatch, request and memory benchmarks (not in the default run).

    ``bash scripts/test -s benchmarks`` rewrites each leg's section of
    docs/benchmarks.md; ``-s "benchmarks(py3.11-django5.2)"`` runs one leg.
    """
    extras = "regstack,tasks" if django.startswith("5.") else "regstack"
    session.install(
        "-e", f".[{extras}]", _django(django), *nox.project.dependency_groups(PYPROJECT, "test")
    )
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python="3.11")
def concurrency_benchmark(session: nox.Session) -> None:
    """Concurrent fires, hung receivers and 20 logins over HTTP (not in the default run).

    ``bash scripts/test -s concurrency_benchmark`` rewrites the "Concurrency"
    section of docs/benchmarks.md (ours vs Django asend_robust vs regstack fire).
    """
    session.install(
        "-e", ".[regstack,tasks]", _django("5.2"), *nox.project.dependency_groups(PYPROJECT, "test")
    )
    session.run("python", "-m", "benchmarks.concurrency", "--write-doc", *session.posargs)


@nox.session(python="3.11")
def load_test(session: nox.Session) -> None:
    """The load test under uvicorn (not in the default run; about 5 minutes).

    ``bash scripts/test -s load_test`` rewrites docs/load-test.md.
    """
    session.install(
        "-e", ".[regstack,tasks]", _django("5.2"), *nox.project.dependency_groups(PYPROJECT, "test")
    )
    session.run("python", "-m", "benchmarks.load", "--write-doc", *session.posargs)


@nox.session(python="3.11")
def login_benchmark(session: nox.Session) -> None:
    """Logins over HTTP on PostgreSQL, regstack alone vs the bridge (not in the default run).

    ``bash scripts/test -s login_benchmark`` rewrites the "Login on PostgreSQL" section of
    docs/benchmarks.md; it needs ``REGSTACK_TEST_POSTGRES`` (a libpq URL).
    """
    session.install(
        "-e",
        ".[regstack,tasks]",
        _django("5.2"),
        "psycopg[binary]",
        "asyncpg",
        *nox.project.dependency_groups(PYPROJECT, "test"),
    )
    session.run("python", "-m", "benchmarks.login", "--write-doc", *session.posargs)
