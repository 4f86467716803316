"""Where a thread-sensitive hop from the current async code would land.

Django's ``ASGIHandler`` opens an asgiref ``ThreadSensitiveContext`` per
request, and ``async_to_sync`` remembers the sync thread that called it; a
thread-sensitive ``sync_to_async`` call then runs in *that* thread, where the
caller's transaction (if any) is open. regstack's FastAPI routes have neither:
there such a call would land on asgiref's one process-wide thread, so the
dispatch loop gives each of those fires a :class:`FireContext` of its own,
whose executor is the fire's lease on the bridge's worker pool.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING

from asgiref.sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext

if TYPE_CHECKING:
    from regstack_django.pool.workers import Lease


class FireContext(ThreadSensitiveContext):
    """The context of one pooled fire: its thread-sensitive calls go to its worker.

    It is asgiref's ``ThreadSensitiveContext(executor=lease)``: while it is
    entered, every thread-sensitive ``sync_to_async`` of the fire (its async
    receivers' own calls included) runs on the lease's worker, and a task that
    outlives the fire gets asgiref's ``RuntimeError`` instead of a stray
    thread. It is a subclass so that :func:`caller_thread_context` can tell it
    from a Django request's context (in a worker no caller's transaction is
    open), and so that entering it costs what a fire can afford: a plain
    ``with``, doing the part of asgiref's entry that applies here. asgiref
    also hides an inherited ``AsyncToSync`` executor on entry (three
    ``asgiref.local.Local`` operations, most of the cost of a fire with only
    async receivers); a pooled fire has none by definition, since
    :func:`caller_thread_context` found it unset.
    """

    def __init__(self, lease: Lease) -> None:
        super().__init__(executor=lease)
        self.lease = lease

    def __enter__(self) -> FireContext:
        if self.token is not None or self._exited:
            raise RuntimeError("A FireContext is entered once.")
        self.token = SyncToAsync.thread_sensitive_context.set(self)
        SyncToAsync.context_to_thread_executor[self] = self.lease
        return self

    def __exit__(self, *exc_info: object) -> None:
        SyncToAsync.context_to_thread_executor.pop(self, None)
        if self.token is not None:
            SyncToAsync.thread_sensitive_context.reset(self.token)
        self.token = None
        self._exited = True


def caller_thread_context() -> bool:
    """Whether this async code runs under a Django request or below a sync caller.

    ``True``: a thread-sensitive hop lands in the request's (or the sync
    caller's) own thread, so ``transaction.get_connection()`` there sees the
    caller's ``atomic()``. ``False``: a plain event loop (regstack's routes),
    or a fire's own :class:`FireContext` on the bridge's pool, where no
    Django transaction can be open.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is not None and not isinstance(context, FireContext):
        return True
    # A sync receiver on a worker that calls async_to_sync is a sync caller.
    if _sync_caller_executor() is not None:
        return True
    if context is not None:
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return loop in AsyncToSync.loop_thread_executors


def _sync_caller_executor() -> object | None:
    """``AsyncToSync.executors.current``, without its cost when nothing was ever set.

    ``executors`` is an ``asgiref.local.Local``: a lookup that misses takes its
    lock and raises and catches an ``AttributeError`` inside asgiref (about
    4 µs, half the loop-side cost of a pooled fire with one sync receiver), and
    a plain event loop always misses. Its data lives in one ``ContextVar``
    (``Local._storage._data``); while that holds nothing in this context, no
    attribute of the Local can be set, so the answer is ``None`` at once.
    Anything else (a value there, or an asgiref whose internals differ) takes
    asgiref's own lookup, so the result is the same.
    """
    executors = AsyncToSync.executors
    data = getattr(getattr(executors, "__dict__", {}).get("_storage"), "_data", None)
    if isinstance(data, contextvars.ContextVar) and data.get(None) is None:
        return None
    return getattr(executors, "current", None)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """Return this thread's running event loop, or ``None`` (no exception when there is none)."""
    return asyncio._get_running_loop()


def current_fire_lease() -> Lease | None:
    """The pool lease of the pooled fire this code runs in, if any."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context.lease if isinstance(context, FireContext) else None
