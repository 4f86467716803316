"""Handlers that tests name by dotted path in REGSTACK_HOOKS.

Each records its call in ``CALLS`` (event, handler name, kwargs) so a test can
look at what ran; ``reset()`` clears it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async

from regstack_django.signals import event_name

CALLS: list[tuple[str, str, dict[str, Any]]] = []


def reset() -> None:
    CALLS.clear()


def _record(name: str, sender: object, kwargs: dict[str, Any]) -> None:
    signal = kwargs.pop("signal", None)
    CALLS.append((event_name(signal), name, {"sender": sender, **kwargs}))


def record_sync(sender: object, **kwargs: Any) -> None:
    _record("record_sync", sender, kwargs)


async def record_async(sender: object, **kwargs: Any) -> None:
    _record("record_async", sender, kwargs)


def record_with_user(sender: object, user: object, **kwargs: Any) -> None:
    _record("record_with_user", sender, {"user": user, **kwargs})


async def slow_async(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(5)
    _record("slow_async", sender, kwargs)


def raises(sender: object, **kwargs: Any) -> None:
    raise RuntimeError("tests.hooks.raises always fails")


def no_kwargs(sender: object) -> None:
    """Cannot be a receiver: Django passes signal= and the event's kwargs."""


def positional_only(sender: object, /, **kwargs: Any) -> None:
    """Cannot be a receiver: Django passes sender by keyword."""


class CallableHandler:
    def __call__(self, sender: object, **kwargs: Any) -> None:
        _record("CallableHandler", sender, kwargs)


callable_instance = CallableHandler()
NOT_CALLABLE = 42


class FailingHandler:
    def __call__(self, sender: object, **kwargs: Any) -> None:
        raise RuntimeError("tests.hooks.failing_instance always fails")


failing_instance = FailingHandler()


def record_background(sender: object, **kwargs: Any) -> None:
    """A background handler: runs in the Tasks worker with JSON kwargs."""
    _record("record_background", sender, kwargs)


def record_durable(sender: object, **kwargs: Any) -> None:
    """A second background handler (a durable entry, next to record_background)."""
    _record("record_durable", sender, kwargs)


def raises_in_worker(sender: object, **kwargs: Any) -> None:
    raise RuntimeError("background handler failed")


def raises_quoting_email(sender: object, user: Any, **kwargs: Any) -> None:
    """A background handler whose error message quotes an argument value."""
    raise RuntimeError(f"could not mail {user.email}")


#: Set by the tests that hang receivers, at teardown; every wait on it is bounded.
RELEASE = threading.Event()
HANG_LIMIT = 20.0


def hang_sync(sender: object, **kwargs: Any) -> None:
    """A sync receiver stuck (on a socket, say) until a test releases it."""
    RELEASE.wait(HANG_LIMIT)
    _record("hang_sync", sender, kwargs)


def record_thread(sender: object, **kwargs: Any) -> None:
    """Record the name of the thread it ran on (as ``thread``)."""
    _record("record_thread", sender, {**kwargs, "thread": threading.current_thread().name})


def sleep_sync(sender: object, **kwargs: Any) -> None:
    time.sleep(0.3)
    _record("sleep_sync", sender, kwargs)


async def hang_in_thread(sender: object, **kwargs: Any) -> None:
    """An async receiver whose own sync_to_async call is stuck."""
    await sync_to_async(RELEASE.wait)(HANG_LIMIT)
    _record("hang_in_thread", sender, kwargs)
