"""regstack's schema installed or upgraded once, however many processes start at the same time.

A lock serializes the install: a PostgreSQL advisory lock, or a file lock next to an SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("regstack_django")

#: The ``pg_advisory_lock`` key every process takes before installing ("RSDJMIGR").
ADVISORY_LOCK_KEY = 0x5253_444A_4D49_4752
#: Seconds a process waits for another one's install before it gives up.
LOCK_TIMEOUT = 120.0
#: Next to an SQLite database ``regstack.sqlite3``: ``regstack.sqlite3.lock`` (left in place).
LOCK_SUFFIX = ".lock"
_POLL = 0.05


class SchemaError(Exception):
    """regstack's schema could not be installed: the message says where and why."""


@dataclass(frozen=True)
class Installed:
    """What :func:`install` did: the revisions before and after, and the wait for the lock."""

    before: str | None  #: ``None``: the database had no regstack schema
    after: str | None
    lock: str  #: how the install was serialized
    waited: float  #: seconds spent waiting for another process's install

    @property
    def action(self) -> str:
        """``"installed"``, ``"upgraded"`` or ``"already at head"``."""
        if self.before == self.after:
            return "already at head"
        return "installed" if self.before is None else "upgraded"

    def describe(self) -> str:
        if self.action == "already at head":
            done = f"already at head ({self.after})"
        elif self.action == "installed":
            done = f"installed (now at {self.after})"
        else:
            done = f"upgraded from {self.before} to {self.after}"
        wait = ""
        if self.waited >= 0.1:
            wait = f", after waiting {self.waited:.1f}s for another process"
        return f"regstack schema: {done}; {self.lock}{wait}."


async def install(regstack: Any, *, lock_timeout: float = LOCK_TIMEOUT) -> Installed | None:
    """Install or upgrade ``regstack``'s schema to head, one process at a time.

    For regstack's SQL backends (SQLite, PostgreSQL): the bundled Alembic
    migrations under a lock, so processes started together on a fresh
    database wait for the first one's install and then find it done. Other
    backends (MongoDB, a backend of the project's own) get
    ``regstack.install_schema()`` as it is, and ``None`` is returned.
    Raises :class:`SchemaError` when the lock is not had within ``lock_timeout``
    seconds or the migrations fail.
    """
    if not _on_sql(regstack):
        await regstack.install_schema()
        return None
    url = regstack.backend.config.database_url.get_secret_value()
    return await install_url(url, lock_timeout=lock_timeout)


async def install_url(url: str, *, lock_timeout: float = LOCK_TIMEOUT) -> Installed:
    """:func:`install` for an SQLAlchemy URL of regstack's SQL backends."""
    from regstack.backends.sql.migrations import current_async, head_revision, upgrade

    where = _redacted(url)
    async with _locked(url, lock_timeout, where) as (lock, waited):
        try:
            before = await current_async(url)
            if before != head_revision():
                await asyncio.to_thread(upgrade, url)
            after = await current_async(url)
        except Exception as exc:
            raise SchemaError(
                f"regstack's schema could not be installed on {where}: {type(exc).__name__}: {exc}"
            ) from exc
    return Installed(before, after, lock, waited)


async def install_at_startup(regstack: Any) -> None:
    """:func:`install` for the ASGI lifespan, which logs what it did (``regstack_django``, INFO)."""
    installed = await install(regstack)
    if installed is not None:
        logger.info("%s", installed.describe())


def _on_sql(regstack: Any) -> bool:
    """Whether ``regstack`` runs on regstack's own SQL backend (SQLite or PostgreSQL)."""
    try:
        from regstack.backends.sql.backend import SqlBackend
    except ImportError:  # pragma: no cover - regstack without SQLAlchemy
        return False
    return isinstance(getattr(regstack, "backend", None), SqlBackend)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return "regstack's database_url"


@asynccontextmanager
async def _locked(url: str, lock_timeout: float, where: str) -> AsyncIterator[tuple[str, float]]:
    """Hold the lock of ``url``'s kind; yields ``(description, seconds waited)``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        async with _advisory_lock(url, lock_timeout, where) as waited:
            yield f"pg_advisory_lock({ADVISORY_LOCK_KEY}) on {where}", waited
    elif backend == "sqlite" and (path := _sqlite_path(parsed.database)) is not None:
        lock_path = path.with_name(path.name + LOCK_SUFFIX)
        async with _file_lock(lock_path, lock_timeout) as waited:
            yield f"file lock {lock_path}", waited
    else:  # in-memory SQLite: each process has a database of its own
        yield "no lock (an in-memory database)", 0.0


def _sqlite_path(database: str | None) -> Path | None:
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    name = database.removeprefix("file:").split("?", 1)[0]
    path = Path(name)
    return path if path.is_absolute() else Path.cwd() / path


@asynccontextmanager
async def _advisory_lock(url: str, lock_timeout: float, where: str) -> AsyncIterator[float]:
    """A session-level advisory lock on a connection of its own to regstack's database.

    Closing that connection releases the lock too, if the process dies holding it.
    """
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        try:
            connection = await engine.connect()
        except Exception as exc:
            raise SchemaError(
                f"regstack's database {where} cannot be reached: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            started = time.monotonic()
            take = text("SELECT pg_try_advisory_lock(:key)")
            held = False
            for _ in range(int(lock_timeout / _POLL) + 1):
                held = bool((await connection.execute(take, {"key": ADVISORY_LOCK_KEY})).scalar())
                if held or time.monotonic() - started > lock_timeout:
                    break
                await asyncio.sleep(_POLL)
            waited = time.monotonic() - started
            if not held:
                raise SchemaError(
                    f"Waited {lock_timeout:g}s for the schema lock on {where} "
                    f"(pg_advisory_lock({ADVISORY_LOCK_KEY})), held by another process that "
                    "is still installing regstack's schema or is stuck: see pg_locks."
                )
            try:
                yield waited
            finally:  # a broken connection has lost the lock with its session anyway
                with contextlib.suppress(Exception):
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                    )
        finally:
            await connection.close()
    finally:
        await engine.dispose()


@asynccontextmanager
async def _file_lock(lock_path: Path, lock_timeout: float) -> AsyncIterator[float]:
    """``flock`` on ``lock_path`` (created if missing); released when the process exits too."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock; one process at a time there
        yield 0.0
        return
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SchemaError(
            f"The schema lock file {lock_path} cannot be opened ({exc.strerror}): does the "
            "folder of regstack's SQLite database exist and is it writable?"
        ) from exc
    try:
        started = time.monotonic()
        held = False
        for _ in range(int(lock_timeout / _POLL) + 1):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() - started > lock_timeout:
                    break
                await asyncio.sleep(_POLL)
        if not held:
            raise SchemaError(
                f"Waited {lock_timeout:g}s for the schema lock {lock_path}, held by another "
                "process that is still installing regstack's schema or is stuck."
            )
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
