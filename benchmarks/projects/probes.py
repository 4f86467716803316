"""Receivers the load test wires in (:mod:`benchmarks.projects.load`), and only there.

Each call appends ``probe<TAB>event<TAB>email`` to ``<VAR_DIR>/load_probes.log`` first (one
``O_APPEND`` write), so the load test counts calls without a model or SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import os
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from regstack_django import signals

LOG_NAME = "load_probes.log"
"""The call log's file name inside ``settings.VAR_DIR``."""

SLEEP_SECONDS = 1.0
"""How long :func:`dawdle` would sleep; settings give it a much shorter timeout."""


class LoadProbeError(RuntimeError):
    """What :func:`explode` raises: an unmistakable, deliberate receiver failure."""


@cache
def log_path() -> Path:
    """``<VAR_DIR>/load_probes.log`` (resolved once: no settings lookup per call)."""
    return Path(settings.VAR_DIR) / LOG_NAME


def note(probe: str, event: str, kwargs: dict[str, Any]) -> None:
    """Append one call record; the user's address identifies the fire."""
    user = kwargs.get("user")
    email = getattr(user, "email", None) or kwargs.get("email") or ""
    line = f"{probe}\t{event}\t{email}\n".encode()
    fd = os.open(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _event(signal: Any) -> str:
    """The event a Signal stands for (receivers get the Signal, not its name)."""
    try:
        return signals.event_name(signal)
    except LookupError:
        return "unknown"


def tally(sender: object, signal: object = None, **kwargs: Any) -> None:
    """A healthy sync receiver (runs in the bridge's thread hop)."""
    note("tally", _event(signal), kwargs)


async def tally_async(sender: object, signal: object = None, **kwargs: Any) -> None:
    """A healthy async receiver (runs on regstack's event loop)."""
    note("tally_async", _event(signal), kwargs)


def explode(sender: object, signal: object = None, **kwargs: Any) -> None:
    """Record the call, then fail: the bridge must log it and keep the response intact."""
    event = _event(signal)
    note("explode", event, kwargs)
    raise LoadProbeError(f"load probe 'explode' failed on purpose ({event})")


async def dawdle(sender: object, signal: object = None, **kwargs: Any) -> None:
    """Record the call, then sleep far past the timeout settings give it.

    A ``dawdle_done`` record would mean the timeout did not cancel it; a
    ``dawdle_cancelled`` record proves it was cancelled (and re-raised, as a
    cancelled coroutine must).
    """
    event = _event(signal)
    note("dawdle", event, kwargs)
    try:
        await asyncio.sleep(SLEEP_SECONDS)
    except asyncio.CancelledError:
        note("dawdle_cancelled", event, kwargs)
        raise
    note("dawdle_done", event, kwargs)
