"""The database the tests run on: SQLite, or PostgreSQL with ``REGSTACK_TEST_DATABASE=postgres``.

PostgreSQL is the server at ``REGSTACK_TEST_POSTGRES`` (``scripts/_postgres.sh`` starts one).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

#: ``sqlite`` (the default) or ``postgres``: which database this run's settings use.
DATABASE_ENV = "REGSTACK_TEST_DATABASE"
#: A libpq URL of a PostgreSQL server where the tests may create and drop databases.
SERVER_ENV = "REGSTACK_TEST_POSTGRES"
#: Where the skip or failure of a test that needs PostgreSQL points.
NO_SERVER = f"{SERVER_ENV} is not set (scripts/_postgres.sh starts a cluster)"

#: The databases the settings of this process named for the whole run: created by the
#: test session before the first test (``tests/conftest.py``), dropped after the last.
RUN_DATABASES: list[str] = []

_names = itertools.count()


def kind() -> str:
    """``"postgres"`` or ``"sqlite"``, from ``REGSTACK_TEST_DATABASE``."""
    value = (os.environ.get(DATABASE_ENV) or "sqlite").strip().lower()
    if value not in {"sqlite", "postgres"}:
        raise RuntimeError(f"{DATABASE_ENV} is {value!r}: set it to 'sqlite' or 'postgres'.")
    return value


def on_postgres() -> bool:
    return kind() == "postgres"


def server() -> str:
    """The server's libpq URL; an error when a run asked for PostgreSQL without one."""
    url = os.environ.get(SERVER_ENV, "").strip()
    if not url:
        raise RuntimeError(f"{DATABASE_ENV}=postgres, but {NO_SERVER}.")
    return url


def unique_name(prefix: str) -> str:
    """A database name no other run or test uses (``prefix``, the pid, a count, random)."""
    suffix = f"{os.getpid()}_{next(_names)}_{secrets.token_hex(3)}"
    name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[: 62 - len(suffix)]}_{suffix}"
    return name


def run_database(prefix: str) -> str:
    """A database for this whole run, created before the first test (see RUN_DATABASES)."""
    name = unique_name(prefix)
    RUN_DATABASES.append(name)
    return name


def _on(name: str) -> SplitResult:
    return urlsplit(server())._replace(path=f"/{name}")


def libpq_url(name: str) -> str:
    """``postgresql://...`` of database ``name`` on the server."""
    return urlunsplit(_on(name))


def regstack_url(name: str) -> str:
    """regstack's ``database_url`` for database ``name`` (SQLAlchemy with asyncpg)."""
    return "postgresql+asyncpg://" + libpq_url(name).split("://", 1)[1]


def django_database(name: str, **extra: Any) -> dict[str, Any]:
    """A ``DATABASES`` entry (psycopg) for database ``name`` on the server."""
    parts = _on(name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        **extra,
    }


def _admin(statement: str, on: str | None = None) -> None:
    import psycopg

    with psycopg.connect(on or server(), autocommit=True, connect_timeout=30) as connection:
        connection.execute(statement)


def create(*names: str, on: str | None = None) -> None:
    """Create each empty database (from ``template0``) on ``on`` or this run's server."""
    for name in names:
        _admin(f'CREATE DATABASE "{name}" TEMPLATE template0', on)


def drop(*names: str, on: str | None = None) -> None:
    """Drop each database, ending the sessions still on it (a killed process's, say)."""
    for name in names:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', on)


@contextmanager
def pair(prefix: str, on: str | None = None) -> Iterator[tuple[str, str]]:
    """Two new databases, Django's and regstack's: their libpq and asyncpg URLs; dropped after."""
    name = unique_name(prefix)
    names = (name, f"{name}_regstack")
    create(*names, on=on)
    parts = urlsplit(on or server())
    django_url, regstack = (urlunsplit(parts._replace(path=f"/{n}")) for n in names)
    try:
        yield django_url, "postgresql+asyncpg://" + regstack.split("://", 1)[1]
    finally:
        drop(*names, on=on)


#: The variable naming a testproject site's PostgreSQL pair (``testproject/settings.py``).
SITE_ENV = "TESTPROJECT_POSTGRES_DB"


@contextmanager
def testproject_site() -> Iterator[dict[str, str]]:
    """The environment that puts a testproject site in other processes on this run's database.

    SQLite: nothing to add (the files are in the site's ``TESTPROJECT_VAR_DIR``). PostgreSQL:
    a new pair, Django's database and ``<it>_regstack``, named in ``TESTPROJECT_POSTGRES_DB``
    and dropped afterwards.
    """
    if not on_postgres():
        yield {}
        return
    name = unique_name("site")
    create(name, f"{name}_regstack")
    try:
        yield {SITE_ENV: name}
    finally:
        drop(name, f"{name}_regstack")


def site_databases(var_dir: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``DATABASES`` entries of a site (``"django"`` and ``"regstack"``), to read its data."""
    name = env.get(SITE_ENV)
    if name is None:
        return {
            key: {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(var_dir / file),
                "OPTIONS": {"timeout": 30},
            }
            for key, file in (("django", "db.sqlite3"), ("regstack", "regstack.sqlite3"))
        }
    return {"django": django_database(name), "regstack": django_database(f"{name}_regstack")}


@contextmanager
def aliases(entries: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Each entry a database alias of this process's Django while the block runs.

    Another process's data read through the ORM (``Model.objects.using(alias)``) or a
    cursor; every connection is closed and every alias gone afterwards.
    """
    from django.db import connections

    for alias, entry in entries.items():
        configured = connections.configure_settings({"default": dict(entry)})["default"]
        connections.settings[alias] = configured
    try:
        yield
    finally:
        for alias in entries:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]
