"""PostgreSQL for the connection tests: the server, throw-away database names, backends counted.

The server is ``REGSTACK_TEST_POSTGRES`` (a libpq URL; ``scripts/_postgres.sh`` starts
a private cluster and exports it): without it the tests skip, under CI they fail.
"""

from __future__ import annotations

import os
import uuid

import pytest

SERVER_SETTING = "REGSTACK_TEST_POSTGRES"


def postgres_server() -> str:
    """Return ``REGSTACK_TEST_POSTGRES``; skip without it, fail under CI (``CI`` set).

    Under ``bash scripts/test`` (``REGSTACK_TEST_DATABASE`` set) only the PostgreSQL leg runs them.
    """
    if os.environ.get("REGSTACK_TEST_DATABASE", "postgres") != "postgres":
        pytest.skip("the PostgreSQL connection tests run on the PostgreSQL leg")
    url = os.environ.get(SERVER_SETTING)
    if not url:
        reason = f"{SERVER_SETTING} is not set (scripts/_postgres.sh starts a cluster)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the PostgreSQL connection tests", pytrace=False)
        pytest.skip(reason)
    return url


def unique_name(prefix: str) -> str:
    """Return a database or application name no other run uses."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def backends(server: str, application_name: str) -> int:
    """Count the server's backends whose ``application_name`` is ``application_name``."""
    import psycopg

    with psycopg.connect(server, application_name="regstack-test-monitor") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def database_exists(server: str, name: str) -> bool:
    """Return whether the server has a database ``name``."""
    import psycopg

    with psycopg.connect(server, application_name="regstack-test-monitor") as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def drop_database(server: str, name: str) -> None:
    """Drop ``name`` if a failed run left it (``FORCE``: its backends go too)."""
    import psycopg

    with psycopg.connect(server, autocommit=True, application_name="regstack-test-monitor") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
