"""The ``timeout`` option of a settings entry, for async and sync handlers.

A thread cannot be cancelled, and neither can a coroutine that waits in
``sync_to_async`` (asgiref waits for the thread when the call is cancelled).
So a timeout never *cancels-and-waits*: the fire stops waiting at the budget,
the receiver is reported (:class:`~regstack_django.failures.ReceiverTimeout`),
and whatever still runs finishes in the background, on the worker it holds.

* An async handler runs in a task of its own; at the budget the fire stops
  waiting, cancels the task and keeps a reference until it ends
  (:func:`async_with_timeout`).
* A sync handler gets a marked adapter (:func:`sync_with_timeout`); the
  dispatch loop reads the mark and bounds its wait for that receiver when it
  runs on the bridge's pool. In the caller's own thread (``fire_sync``, a
  Django request, below ``async_to_sync``) nothing can stop waiting for that
  thread: the handler runs to the end, and an overrun is logged as a WARNING.
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

#: How many sync adapters with a timeout are connected (kept by wiring): when
#: 0, the dispatch loop does not look for the mark at all.
connected_sync_timeouts = 0

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
        task.exception()  # retrieved: no "exception was never retrieved" noise


def abandoned_count() -> int:
    """Tasks still running after their fire stopped waiting (for tests and benchmarks)."""
    return len(_abandoned)


def timeout_message(path: str, seconds: float) -> str:
    return (
        f"{path} ran past its timeout of {seconds:g}s; the fire stopped waiting for it "
        f"(it finishes in the background)."
    )


def async_with_timeout(
    handler: Callable[..., Any], path: str, seconds: float
) -> Callable[..., Any]:
    """Wrap an async receiver so the fire waits for it at most ``seconds``."""

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
    """Mark a sync receiver with its budget; log an overrun when it finally returns."""

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
