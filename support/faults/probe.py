"""The trials' background handler: record each delivery it finishes, keyed by the event's token.

One row per delivery in a SQLite file of its own, written whatever the worker's transaction
does next: a worker killed after the row and before the task is marked done delivers twice.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.dispatch import Signal

from regstack_django.signals import event_name

#: The ``AuditEvent.event`` the trials' Django view saves with each transaction (:mod:`.urls`).
COMMITTED_EVENT = "fault_commit"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS delivery ("
    " key TEXT NOT NULL, mode TEXT NOT NULL, event TEXT NOT NULL, event_id TEXT NOT NULL,"
    " pid INTEGER NOT NULL, at REAL NOT NULL)"
)


def database(var_dir: Path) -> Path:
    return var_dir / "faults.sqlite3"


def create(var_dir: Path) -> None:
    """Create the deliveries file (WAL: the harness reads while workers write)."""
    with contextlib.closing(sqlite3.connect(database(var_dir), timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(SCHEMA)
        connection.commit()


def token_of(url: str) -> str:
    """The token query value of an e-mailed link."""
    return url.rsplit("token=", 1)[1].split("&", 1)[0]


def _record(mode: str, signal: Signal, kwargs: dict[str, Any]) -> None:
    time.sleep(getattr(settings, "FAULTS_HANDLER_SECONDS", 0.0))
    key = token_of(str(kwargs["url"]))
    event_id = str(kwargs.get("event_id") or "")
    with contextlib.closing(sqlite3.connect(database(settings.VAR_DIR), timeout=30)) as connection:
        connection.execute(
            "INSERT INTO delivery (key, mode, event, event_id, pid, at) VALUES (?, ?, ?, ?, ?, ?)",
            (key, mode, event_name(signal), event_id, os.getpid(), time.time()),
        )
        connection.commit()


def record_today(signal: Signal, sender: object, **kwargs: Any) -> None:
    """Background probe, a plain background entry: (sleep, then) record one delivery."""
    _record("today", signal, kwargs)


def record_durable(signal: Signal, sender: object, **kwargs: Any) -> None:
    """Background probe, a durable entry: (sleep, then) record one delivery."""
    _record("durable", signal, kwargs)
