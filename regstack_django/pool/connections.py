"""Django's connections on the threads that run receivers, handled as a request's are."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.utils.connection import ConnectionDoesNotExist

from regstack_django.failures import logger

#: Per thread, the aliases that opened a connection: a thread that never
#: touches the database then pays one attribute lookup.
_opened = threading.local()


def _note_connection(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Remember, per thread, which ``DATABASES`` aliases opened a connection.

    Django also opens wrappers of its own under other aliases (``__no_db__``, while
    it creates or drops a test database): ``connections`` does not know them, and
    they close themselves.
    """
    if connection.alias not in connections.settings:
        return
    aliases: set[str] | None = getattr(_opened, "aliases", None)
    if aliases is None:
        aliases = _opened.aliases = set()
    aliases.add(connection.alias)


connection_created.connect(_note_connection, weak=False, dispatch_uid="regstack_django.opened")


def close_stale_connections() -> None:
    """Close this thread's connections past ``CONN_MAX_AGE`` or broken, as a request does.

    Never one inside ``atomic()``: a sync group may run in the caller's own thread.
    A thread seen for the first time is scanned once (it may predate this module).
    Never raises: connection bookkeeping must not stop a fire.
    """
    aliases: set[str] | None = getattr(_opened, "aliases", None)
    if aliases is None:
        aliases = _opened.aliases = {c.alias for c in connections.all(initialized_only=True)}
    if not aliases:
        return
    for alias in list(aliases):
        try:
            conn = connections[alias]
        except ConnectionDoesNotExist:  # DATABASES changed since it opened
            aliases.discard(alias)
            continue
        if conn.connection is None:
            aliases.discard(alias)
            continue
        if conn.in_atomic_block:
            continue
        try:
            conn.close_if_unusable_or_obsolete()
        except Exception:
            # Checking needs the database (autocommit state); if that fails the
            # receivers' own queries will report it. Dispatch goes on.
            logger.debug("Could not check connection %r around receivers.", alias)
        if conn.connection is None:
            aliases.discard(alias)


def holds_connections() -> bool:
    """Return whether this thread may hold a connection (one opened and not seen closed since)."""
    return bool(getattr(_opened, "aliases", None))


def close_all_connections() -> None:
    """Close this thread's connections (Django's are per thread), except one in ``atomic()``."""
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        try:
            conn.close()
        except Exception:
            logger.debug("Could not close connection %r.", conn.alias)
