"""The ``timeout`` option of a settings entry, for async and sync handlers.

A thread cannot be cancelled, so a timeout never cancels-and-waits: the fire
stops waiting at the budget and what still runs finishes in the background.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from regstack_django.failures import NAME_ATTRIBUTE, ReceiverTimeout, logger
from regstack_django.pool.threads import current_fire_lease

#: The budget in seconds of a sync adapter made by :func:`sync_with_timeout`.
TIMEOUT_ATTRIBUTE = "regstack_django_timeout"

#: Tasks the fire stopped waiting for, held until they end (asyncio keeps
#: only weak references to tasks).
_abandoned: set[asyncio.Task[Any]] = set()


def keep_until_done(task: asyncio.Task[Any]) -> None:
    """Hold ``task`` (abandoned by its fire) until it ends, and consume its outcome."""
    _abandoned.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # no "exception was never retrieved" noise


def abandoned_count() -> int:
    """Return how many tasks still run after their fire stopped waiting (tests, benchmarks)."""
    return len(_abandoned)


def timeout_message(path: str, seconds: float) -> str:
    """Return the ``ReceiverTimeout`` message for ``path`` past ``seconds``."""
    return (
        f"{path} ran past its timeout of {seconds:g}s; the fire stopped waiting for it "
        f"(it finishes in the background)."
    )


def async_with_timeout(
    handler: Callable[..., Any], path: str, seconds: float
) -> Callable[..., Any]:
    """Wrap an async receiver so the fire waits for it at most ``seconds``.

    At the budget the task is cancelled and kept until it ends.
    """

    async def receiver(signal: object, sender: object, **kwargs: Any) -> None:
        task = asyncio.ensure_future(handler(signal=signal, sender=sender, **kwargs))
        try:
            done, _pending = await asyncio.wait((task,), timeout=seconds)
        except BaseException:  # the fire itself was cancelled
            task.cancel()
            _abandon(task, path)
            raise
        if done:
            return task.result()  # type: ignore[no-any-return]
        task.cancel()
        _abandon(task, path)
        raise ReceiverTimeout(timeout_message(path, seconds))

    setattr(receiver, NAME_ATTRIBUTE, path)
    return receiver


def _abandon(task: asyncio.Task[Any], path: str) -> None:
    keep_until_done(task)
    if not task.done():
        lease = current_fire_lease()
        if lease is not None:
            # It may be inside sync_to_async on the fire's worker: that worker
            # must finish the call before it serves another fire.
            lease.abandon(f"{path} (timed out, still running)")


def sync_with_timeout(
    handler: Callable[..., Any], path: str, event: str, seconds: float
) -> Callable[..., Any]:
    """Mark a sync receiver with its budget; log an overrun when it finally returns.

    The dispatch loop bounds its wait for a marked receiver on the bridge's pool
    only: in the caller's own thread nothing can stop waiting for it.
    """

    def receiver(signal: object, sender: object, **kwargs: Any) -> None:
        started = time.monotonic()
        try:
            handler(signal=signal, sender=sender, **kwargs)
        finally:
            took = time.monotonic() - started
            if took > seconds:
                logger.warning(
                    "Receiver %s of regstack event %r returned after %.3gs, past its timeout "
                    "of %gs.",
                    path,
                    event,
                    took,
                    seconds,
                    extra={"regstack_event": event, "regstack_receiver": path},
                )

    setattr(receiver, NAME_ATTRIBUTE, path)
    setattr(receiver, TIMEOUT_ATTRIBUTE, seconds)
    return receiver
