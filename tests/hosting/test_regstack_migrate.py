"""``manage.py regstack_migrate``: installs regstack's schema, idempotent, safe with copies at once.

In-process with ``call_command`` on a throw-away SQLite file (settings
overridden), and as real ``manage.py`` processes of a throw-away site: four
copies started together on a fresh database, SQLite and PostgreSQL
(``REGSTACK_TEST_POSTGRES``). A held lock makes a copy wait, then give up
with a clear message; a failure exits with status 1 and says why. A backend
other than regstack's SQL one gets its own ``install_schema()``.
"""

from __future__ import annotations

import asyncio
import fcntl
import re
import sqlite3
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from regstack import RegStack, RegStackConfig
from regstack.auth.clock import SystemClock
from regstack.backends.base import Backend, BackendKind
from regstack.backends.sql.migrations import current, head_revision, upgrade

from regstack_django.hosting.schema import ADVISORY_LOCK_KEY
from support.net import free_port
from tests.hosting.boot_site import DATABASES, fresh_database, manage, runs_here, write_site
from tests.instances import JWT_SECRET

HEAD = head_revision()


@pytest.fixture
def sqlite_url(settings: Any, tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/regstack.sqlite3"
    settings.REGSTACK = {"jwt_secret": JWT_SECRET, "database_url": url}
    return url


def migrate(**options: Any) -> str:
    out = StringIO()
    call_command("regstack_migrate", stdout=out, **options)
    return out.getvalue()


def test_it_installs_the_schema_then_finds_it_at_head(sqlite_url: str, tmp_path: Path) -> None:
    assert migrate().startswith(f"regstack schema: installed (now at {HEAD})")
    assert current(sqlite_url) == HEAD
    again = migrate()
    assert again.startswith(f"regstack schema: already at head ({HEAD})")
    assert f"file lock {tmp_path}/regstack.sqlite3.lock" in again


def test_it_upgrades_an_older_schema(sqlite_url: str) -> None:
    upgrade(sqlite_url, "0001")
    assert migrate().startswith(f"regstack schema: upgraded from 0001 to {HEAD}")


def test_a_copy_waits_for_the_one_installing(sqlite_url: str, tmp_path: Path) -> None:
    with (tmp_path / "regstack.sqlite3.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        threading.Timer(1.0, fcntl.flock, (held, fcntl.LOCK_UN)).start()
        started = time.monotonic()
        said = migrate()
    assert time.monotonic() - started >= 1.0
    assert re.search(r"after waiting \d\.\ds for another process", said), said


def test_a_lock_held_too_long_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    lock = tmp_path / "regstack.sqlite3.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(CommandError, match=f"Waited 0.5s for the schema lock {lock}"):
            migrate(lock_timeout=0.5)
    assert current(sqlite_url) is None  # nothing was installed


def test_a_failing_migration_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    migrate()
    with sqlite3.connect(tmp_path / "regstack.sqlite3") as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffff'")  # a newer regstack's
    with pytest.raises(CommandError) as raised:
        migrate()
    assert "regstack's schema could not be installed on sqlite+aiosqlite:///" in str(raised.value)
    assert "Can't locate revision identified by 'ffff'" in str(raised.value)


@pytest.mark.slow  # real manage.py processes
def test_four_copies_at_once_all_succeed_on_sqlite(tmp_path: Path) -> None:
    runs_here("sqlite")
    four_copies_at_once(tmp_path, "sqlite")


@pytest.mark.slow  # real manage.py processes
def test_four_copies_at_once_all_succeed_on_postgresql(tmp_path: Path) -> None:
    runs_here("postgresql")
    four_copies_at_once(tmp_path, "postgresql")


def four_copies_at_once(tmp_path: Path, kind: str) -> None:
    assert kind in DATABASES
    site = write_site(tmp_path / "site")
    with fresh_database(kind, tmp_path / "db") as url:
        copies = [
            manage(site, url, "regstack_migrate", log=tmp_path / f"migrate-{n}.log")
            for n in range(4)
        ]
        codes = [copy.wait(180) for copy in copies]
        said = [copy.output() for copy in copies]
        assert codes == [0, 0, 0, 0], said
        assert sorted(s.split(" (")[0] for s in said) == [
            "regstack schema: already at head",
            "regstack schema: already at head",
            "regstack schema: already at head",
            "regstack schema: installed",
        ], said
        assert current(url) == HEAD


def test_a_copy_waits_for_the_advisory_lock_on_postgresql(tmp_path: Path) -> None:
    runs_here("postgresql")
    with fresh_database("postgresql", tmp_path) as url:
        said = asyncio.run(_migrate_while_locked(url, hold=1.0))
    assert re.search(r"after waiting \d\.\ds for another process", said), said
    assert f"pg_advisory_lock({ADVISORY_LOCK_KEY})" in said


async def _migrate_while_locked(url: str, hold: float) -> str:
    import asyncpg

    holder = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        loop = asyncio.get_running_loop()
        from django.test import override_settings

        with override_settings(REGSTACK={"jwt_secret": JWT_SECRET, "database_url": url}):
            command = loop.run_in_executor(None, migrate)
            await asyncio.sleep(hold)
            await holder.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
            return await command
    finally:
        await holder.close()


@pytest.mark.slow  # real manage.py processes
def test_an_unreachable_database_exits_1_with_the_reason(tmp_path: Path) -> None:
    runs_here("failures")
    site = write_site(tmp_path)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing_here"
    copy = manage(site, url, "regstack_migrate", log=tmp_path / "migrate.log")
    assert copy.wait(120) == 1
    said = copy.output()
    assert f"CommandError: regstack's database {url} cannot be reached" in said, said
    assert "Traceback" not in said


class OwnBackend(Backend):
    """A backend of the project's own (MongoDB is one): its install_schema runs, unlocked."""

    kind = BackendKind.MONGO
    users = pending = blacklist = attempts = mfa_codes = oauth_identities = oauth_states = None
    installs = 0

    async def install_schema(self) -> None:
        type(self).installs += 1

    async def aclose(self) -> None:
        pass

    async def ping(self) -> None:
        pass


def regstack_on_its_own_backend() -> RegStack:
    config = RegStackConfig(jwt_secret=JWT_SECRET)
    return RegStack(config=config, backend=OwnBackend(config=config, clock=SystemClock()))


def test_another_backend_gets_its_own_install_schema(settings: Any) -> None:
    settings.REGSTACK = None
    settings.REGSTACK_INSTANCE = f"{__name__}.regstack_on_its_own_backend"
    said = migrate()
    assert said.startswith("regstack schema: installed by the backend's install_schema()")
    assert "(OwnBackend); nothing to lock." in said
    assert OwnBackend.installs == 1
