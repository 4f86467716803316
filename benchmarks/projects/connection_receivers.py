"""The connection benchmark's receivers: ORM writes, fast or slow (``BENCH_RECEIVER_SECONDS``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

#: How long each receiver waits after its write, holding its worker (0: a fast receiver).
SECONDS = float(os.environ.get("BENCH_RECEIVER_SECONDS") or 0)


def sync_write(sender: object, **kwargs: Any) -> None:
    """A sync receiver: one row through the ORM, on the fire's pool worker."""
    from benchmarks.projects.records.models import Delivery

    Delivery.objects.create(event=str(kwargs.get("signal", "")), receiver="sync")
    if SECONDS:
        time.sleep(SECONDS)


async def async_write(sender: object, **kwargs: Any) -> None:
    """An async receiver: one row through the async ORM (its call runs on the fire's worker)."""
    from benchmarks.projects.records.models import Delivery

    await Delivery.objects.acreate(event=str(kwargs.get("signal", "")), receiver="async")
    if SECONDS:
        await asyncio.sleep(SECONDS)


def background_note(sender: object, **kwargs: Any) -> None:
    """A background handler: each event enqueues one Tasks row (no worker runs it here)."""
