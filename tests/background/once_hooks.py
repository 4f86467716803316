"""Background handlers for tests/background/test_replays.py (they import the models)."""

from __future__ import annotations

import threading
import time
from typing import Any

from regstack_django.models import OutboxEvent
from regstack_django.once import run_once
from tests import hooks

#: Raise in the next ``flaky_once`` run (a test sets it).
FAIL_NEXT = threading.Event()


@run_once
def record_once(sender: object, **kwargs: Any) -> None:
    hooks.CALLS.append(("user_registered", "record_once", {"sender": sender, **kwargs}))


@run_once
def flaky_once(sender: object, **kwargs: Any) -> None:
    if FAIL_NEXT.is_set():
        FAIL_NEXT.clear()
        raise RuntimeError("flaky_once failed on purpose")
    hooks.CALLS.append(("user_registered", "flaky_once", {"sender": sender, **kwargs}))


@run_once
def slow_once(sender: object, **kwargs: Any) -> None:
    """Hold the claim's transaction a while, so concurrent copies meet it."""
    time.sleep(0.3)
    hooks.CALLS.append(("user_registered", "slow_once", {"sender": sender, **kwargs}))


@run_once
def writes_then_fails(sender: object, **kwargs: Any) -> None:
    """Write a row, then raise: the write goes with the released claim."""
    OutboxEvent.objects.create(
        event_id=kwargs["event_id"], event="user_registered", handler="x.y", message="m"
    )
    raise RuntimeError("after a write")
