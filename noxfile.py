"""The whole test matrix: ``bash scripts/test`` runs ``nox`` with these sessions.

Four Python x Django legs, one on PostgreSQL, ``lint`` and ``docs``.
A leg lacking its needs skips; CI fails.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "docs", "tests"]
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

PYPROJECT = nox.project.load_toml("pyproject.toml")
#: (Python, Django, the database both Django and regstack use in that leg).
LEGS = [
    ("3.11", "5.2", "sqlite"),
    ("3.13", "5.2", "sqlite"),
    ("3.12", "6.0", "postgres"),
    ("3.13", "6.1", "sqlite"),
]
#: The benchmark sessions' legs (one section of docs/benchmarks.md each).
BENCHMARK_LEGS = [(python, django) for python, django, _ in LEGS]
# The one leg that runs tests/project/test_scale_out.py (real Redis + worker
# processes, ~90 s); every 6.x leg installs the "scaleout" group all the same.
SCALE_OUT_LEG = ("3.13", "6.1")
SCALE_OUT_TEST = "tests/project/test_scale_out.py"
# The PostgreSQL leg: the main suite and the testproject's end-to-end suite with Django's
# database and regstack's on the private cluster scripts/test starts (REGSTACK_TEST_POSTGRES);
# REGSTACK_TEST_DATABASE=postgres, set for this leg only, makes the settings use it.
POSTGRES_LEG = ("3.12", "6.0")
# The testproject's end-to-end suite (real uvicorn, runserver, db_worker, relay;
# about 2.5 minutes a leg) runs whole on the oldest, the newest and the PostgreSQL
# leg. Python 3.13 + Django 5.2 runs its real-worker tests (the Tasks backport on a
# Python that is not 3.11).
PROJECT_SUITE = {
    ("3.11", "5.2"): ["tests/project"],
    SCALE_OUT_LEG: ["tests/project"],
    POSTGRES_LEG: ["tests/project"],
    ("3.13", "5.2"): ["tests/project/test_worker.py", "tests/project/test_durable_worker.py"],
}
# tests/hosting/test_boot.py and test_regstack_migrate.py start many real server and
# manage.py processes (~40 s per database): each part runs on one leg only, named in
# REGSTACK_TEST_BOOT (tests/hosting/boot_site.py); the other legs skip it and say so.
BOOT_PARTS = {("3.13", "5.2"): "sqlite,failures", POSTGRES_LEG: "postgresql"}
# The legs that install the "postgres" group: the PostgreSQL leg, and the one whose
# boot failures start sites on an unreachable postgresql+asyncpg:// URL.
POSTGRES_GROUP = {POSTGRES_LEG, ("3.13", "5.2")}
# ``bash scripts/test`` without arguments runs the default sessions as these two streams
# side by side (one ``nox -s ...`` each, a core each), balanced by their measured times; it
# refuses to start when a default session is in no stream or a stream names an unknown one.
STREAMS = [
    ["lint", "docs", "tests(py3.11-django5.2)", "tests(py3.13-django6.1)"],
    ["tests(py3.13-django5.2)", "tests(py3.12-django6.0-postgres)"],
]
# A smoke of every benchmark command the README lists (a few rounds, no doc), each on one
# leg: the ones Django 5.2 runs on the oldest leg (~1-2 minutes), the scale-out two
# (Redis, Celery, Django 6.1) on the scale-out leg.
# The leg with OpenTelemetry's SDK ("otel" group): tests/observability runs there (elsewhere it
# skips), and so does the benchmark smoke that includes benchmarks/otel.py.
OTEL_LEG = ("3.11", "5.2")
# The leg that installs Django REST framework and so runs the DRF authentication test.
DRF_LEG = ("3.13", "6.1")
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


def _leg_id(python: str, django: str, database: str) -> str:
    return f"py{python}-django{django}" + ("-postgres" if database == "postgres" else "")


def _postgres_env(session: nox.Session) -> dict[str, str]:
    """The PostgreSQL leg's environment; the leg is skipped without a server (CI: fails)."""
    if not os.environ.get("REGSTACK_TEST_POSTGRES"):
        reason = "PostgreSQL leg: REGSTACK_TEST_POSTGRES is not set (bash scripts/test starts one)"
        if os.environ.get("CI"):
            session.error(f"{reason}, and CI must run it")
        session.skip(reason)
    return {"REGSTACK_TEST_DATABASE": "postgres"}


@nox.session
@nox.parametrize(("python", "django", "database"), LEGS, ids=[_leg_id(*leg) for leg in LEGS])
def tests(session: nox.Session, django: str, database: str) -> None:
    """The pytest suite on one Python x Django leg (x database: SQLite, or PostgreSQL)."""
    leg = (str(session.python), django)
    env = _postgres_env(session) if database == "postgres" else {"REGSTACK_TEST_DATABASE": "sqlite"}
    env["REGSTACK_TEST_BOOT"] = BOOT_PARTS.get(leg, "")
    extras = "regstack,tasks" if django.startswith("5.") else "regstack"
    groups = ["test"] if django.startswith("5.") else ["test", "scaleout"]
    groups += ["postgres"] if leg in POSTGRES_GROUP else []
    groups += ["otel"] if leg == OTEL_LEG else []
    groups += ["drf"] if leg == DRF_LEG else []
    session.install(
        "-e", f".[{extras}]", _django(django), *nox.project.dependency_groups(PYPROJECT, *groups)
    )
    pytest = ["python", "-m", "pytest"]
    session.run(*pytest, f"--ignore={BENCHMARK_SMOKE}", *session.posargs, env=env)
    smoke = BENCHMARK_SMOKE_LEGS.get(leg)
    if not session.posargs and smoke:
        session.run(*pytest, smoke, env=env)
    # The audit app's tests run with it installed (tests/audit/settings.py): a run of their own.
    if not session.posargs:
        session.run(*pytest, "tests/audit", "--ds=tests.audit.settings", env=env)
    # The testproject's end-to-end tests need its own settings: a second run.
    paths = PROJECT_SUITE.get(leg)
    if not session.posargs and paths:
        skip = [] if leg == SCALE_OUT_LEG else [f"--ignore={SCALE_OUT_TEST}"]
        session.run(*pytest, *paths, "--ds=testproject.settings", *skip, env=env)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (lint + format) and mypy strict with django-stubs on regstack_django/."""
    session.install(
        "-e",
        ".[regstack,tasks,otel]",
        _django("5.2"),
        *nox.project.dependency_groups(PYPROJECT, "lint"),
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The docs site: ``mkdocs build --strict`` (links and anchors checked) into a temp folder."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    site = session.create_tmp()
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})


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
@nox.parametrize(
    ("python", "django"), BENCHMARK_LEGS, ids=[f"py{p}-django{d}" for p, d in BENCHMARK_LEGS]
)
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
