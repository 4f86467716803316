"""Where ``AuthEvent`` rows are written: a thread of their own, so a login never waits a commit.

In the caller's transaction (``atomic()``, a ``TestCase``) the row is written there instead.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from django.db import connection

from regstack_django.pool.connections import close_all_connections, close_stale_connections

logger = logging.getLogger("regstack_django")

#: Rows waiting for the writer at most; past it new rows are dropped (and counted in a log line).
MAX_PENDING: Final = 10_000
#: Rows per INSERT statement.
BATCH: Final = 500

_lock = threading.Lock()
_pending: deque[dict[str, Any]] = deque()
_dropped = 0
_executor: ThreadPoolExecutor | None = None


def _writer() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regstack-audit")
    return _executor


def save(fields: dict[str, Any]) -> None:
    """Store one row: in the caller's transaction if there is one, else on the writer thread."""
    from regstack_django.audit.models import AuthEvent

    if connection.in_atomic_block:
        AuthEvent.objects.create(**fields)
        return
    global _dropped
    with _lock:
        if len(_pending) >= MAX_PENDING:
            _dropped += 1
            return
        _pending.append(fields)
    _writer().submit(_drain)


def _drain() -> None:
    """Write every waiting row, ``BATCH`` per statement (runs on the writer thread only)."""
    from regstack_django.audit.models import AuthEvent

    global _dropped
    close_stale_connections()
    while True:
        with _lock:
            rows = [_pending.popleft() for _ in range(min(BATCH, len(_pending)))]
            dropped, _dropped = _dropped, 0
        if dropped:
            logger.error(
                "The audit log dropped %d event(s): %d rows were already waiting for the database.",
                dropped,
                MAX_PENDING,
            )
        if not rows:
            break
        try:
            AuthEvent.objects.bulk_create([AuthEvent(**fields) for fields in rows])
        except Exception as exc:
            logger.error(
                "The audit log could not store %d event(s): %s.", len(rows), type(exc).__name__
            )
    close_stale_connections()  # with CONN_MAX_AGE = 0 (the default): closed until the next rows


def flush(timeout: float = 30.0) -> None:
    """Wait until every row saved so far is in the database (tests, before reading them)."""
    done: Future[None] = _writer().submit(lambda: None)  # one thread: runs after every drain
    done.result(timeout=timeout)


def close_connections(timeout: float = 30.0) -> None:
    """Write the waiting rows, then close the writer thread's connections (test teardown)."""
    if _executor is not None:
        _executor.submit(close_all_connections).result(timeout=timeout)
