"""The login benchmark's two connected receivers: a sync ORM write and an async one."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.projects.records.models import Delivery

_notified: list[str] = []


def orm_write(sender: object, **kwargs: Any) -> None:
    """One INSERT per login (runs in the bridge's thread hop)."""
    Delivery.objects.create(
        event="user_logged_in", receiver="orm_write", detail=str(kwargs["user"].id)
    )


async def notify(sender: object, **kwargs: Any) -> None:
    """Yields once and records the user (runs on regstack's event loop)."""
    await asyncio.sleep(0)
    _notified.append(str(kwargs["user"].id))
    if len(_notified) > 1000:
        _notified.clear()


def connect() -> None:
    from regstack_django import signals

    signals.user_logged_in.connect(orm_write, dispatch_uid="bench.login.orm_write")
    signals.user_logged_in.connect(notify, dispatch_uid="bench.login.notify")
