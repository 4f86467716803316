"""Receivers' connections on real PostgreSQL: counted as backends, and the test database drops.

Each case is a process of its own on ``tests.pool.pg_site`` (``tests/pool/pg_burst.py``,
or pytest with pytest-django as a project runs it), its backends told apart by
``application_name``; ``REGSTACK_HOOKS_WORKERS = 4`` there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pool.postgres import (
    backends,
    database_exists,
    drop_database,
    postgres_server,
    unique_name,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WORKERS = 4
#: Bound of one process these tests start.
PROCESS_TIMEOUT = 240


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of a process on ``tests.pool.pg_site``; its test database dropped after."""
    server = postgres_server()
    name = unique_name("regstack_conn")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "tests.pool.pg_site",
        "REGSTACK_TEST_POSTGRES": server,
        "CONNECTIONS_DATABASE": name,
        "CONNECTIONS_APP": name.replace("_", "-"),
        "CONNECTIONS_MAX_AGE": "0",
    }
    yield env
    if database_exists(server, f"test_{name}"):
        drop_database(server, f"test_{name}")
        pytest.fail(f"test_{name} was left behind")


def _run(env: dict[str, str], scenario: str, max_age: int = 0) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.pool.pg_burst", scenario],
        env={**env, "CONNECTIONS_MAX_AGE": str(max_age)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_fire_from_sync_code_delivers_after_a_database_was_created_in_the_thread(
    site: dict[str, str],
) -> None:
    # create_test_db() opened Django's "__no_db__" connection in this thread first.
    result = _run(site, "created")
    assert result["found"] == {"error": None, "rows": ["async", "sync"]}
    assert result["dropped"] == "yes"


def test_with_conn_max_age_0_no_backend_is_left_after_a_burst(site: dict[str, str]) -> None:
    result = _run(site, "burst", max_age=0)
    found = result["found"]
    for mix, counts in found.items():
        # (No bound on the peak here: a backend the client closed lingers in
        # pg_stat_activity a moment while its worker's next connection starts.)
        assert counts["before"] == 0, (mix, counts)
        assert counts["after"] == 0, (mix, counts)
    assert [found[m]["rows"] for m in ("sync", "mixed", "async")] == [30, 60, 30]
    # Nothing held the test database, though the pool was never shut down.
    assert result["dropped"] == "yes"
    assert backends(site["REGSTACK_TEST_POSTGRES"], site["CONNECTIONS_APP"]) == 0


def test_with_conn_max_age_60_workers_keep_one_connection_each(site: dict[str, str]) -> None:
    result = _run(site, "burst", max_age=60)
    found = result["found"]
    for mix, counts in found.items():
        assert counts["before"] == 0, (mix, counts)
        # Persistent connections: one per worker at most, during the burst and after.
        assert 1 <= counts["after"] <= counts["peak"] <= WORKERS, (mix, counts)
    assert [found[m]["rows"] for m in ("sync", "mixed", "async")] == [30, 60, 30]
    assert result["dropped"] == "yes"  # the pool's shutdown closed them


USER_TEST = """
import asyncio

import pytest

from regstack_django import get_registry, signals
from tests.testapp.models import Delivery


async def record(sender, **kwargs):
    await Delivery.objects.acreate(event="user_registered", receiver="async")


@pytest.mark.django_db(transaction=True)
async def test_thirty_fires_with_an_async_orm_receiver():
    signals.user_registered.connect(record)
    try:
        fires = [get_registry().fire("user_registered", user="u") for _ in range(30)]
        await asyncio.gather(*fires)
    finally:
        signals.user_registered.disconnect(record)
    assert await Delivery.objects.acount() == 30
"""


def test_pytest_django_drops_the_test_database_after_async_orm_receivers(
    site: dict[str, str], tmp_path: Path
) -> None:
    # A project's suite, as the README's "Testing your receivers" runs one.
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            """\
            [pytest]
            DJANGO_SETTINGS_MODULE = tests.pool.pg_site
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            """
        )
    )
    (tmp_path / "test_signups.py").write_text(USER_TEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        env=site,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "being accessed by other users" not in output, output[-3000:]
    assert done.returncode == 0, output[-3000:]
    assert "1 passed" in output
    server = site["REGSTACK_TEST_POSTGRES"]
    assert not database_exists(server, f"test_{site['CONNECTIONS_DATABASE']}")
