"""A pooled fire's asgiref context, and every private asyncio, threading and asgiref access.

The private ones buy speed or a shutdown order the public APIs do not give; asgiref is
pinned ``<4`` and ``tests/pool/test_threads_contract.py`` pins each one on every leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext

from regstack_django.pool.connections import close_stale_connections, holds_connections

if TYPE_CHECKING:
    from regstack_django.pool.workers import Lease

P = ParamSpec("P")
T = TypeVar("T")


class LeaseExecutor(Executor):
    """The executor of a pooled fire's context: runs each call on the lease's worker."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn`` on the lease's worker: the one bound, a free one, or the next freed."""
        lease = self.lease
        first = not lease.async_calls
        lease.async_calls = True
        call = functools.partial(_on_worker, lease, first, functools.partial(fn, *args, **kwargs))
        worker = lease.worker or lease.pool.bind(lease)
        if worker is not None:
            return worker.executor.submit(call)
        return lease.pool.park(lease, call)


def _on_worker(lease: Lease, first: bool, call: Callable[[], T]) -> T:
    """Run an async receiver's call on the fire's worker, with a request's connection handling.

    The fire's first call checks the worker's connections first, as a request starts.
    A call that leaves one open marks the lease, whose close then queues the check.
    """
    if first:
        close_stale_connections()
    try:
        return call()
    finally:
        if holds_connections():
            lease.holds_connections = True


class FireContext(ThreadSensitiveContext):
    """Send a pooled fire's thread-sensitive calls to its lease's worker.

    asgiref's ``ThreadSensitiveContext(executor=...)``, entered with a plain ``with``
    and only the part of asgiref's entry that applies: hiding an inherited
    ``AsyncToSync`` executor (most of the cost of an async-only fire) is skipped,
    because :func:`caller_thread_context` found none before a fire is pooled. A
    subclass, so that :func:`caller_thread_context` can tell it from a request's.
    """

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.executor = LeaseExecutor(lease)
        super().__init__(executor=self.executor)

    def __enter__(self) -> FireContext:
        if self.token is not None or self._exited:
            raise RuntimeError("A FireContext is entered once.")
        self.token = SyncToAsync.thread_sensitive_context.set(self)
        SyncToAsync.context_to_thread_executor[self] = self.executor
        return self

    def __exit__(self, *exc_info: object) -> None:
        SyncToAsync.context_to_thread_executor.pop(self, None)
        if self.token is not None:
            SyncToAsync.thread_sensitive_context.reset(self.token)
        self.token = None
        self._exited = True


def caller_thread_context() -> bool:
    """Return whether a thread-sensitive call from here lands in a caller's own thread.

    True under a Django request or below a sync caller (``async_to_sync``), where the
    caller's ``atomic()`` is visible; False on a plain event loop (regstack's routes)
    or in a :class:`FireContext`, where no Django transaction can be open.
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
    """Return ``AsyncToSync.executors.current``, at once when nothing was ever set.

    A missed lookup on that ``asgiref.local.Local`` takes a lock and raises and
    catches inside asgiref (about 4 µs, half a pooled fire's loop-side cost), and a
    plain event loop always misses. An empty ``Local._storage._data`` ContextVar
    means no attribute is set; anything else takes asgiref's own lookup.
    """
    executors = AsyncToSync.executors
    data = getattr(getattr(executors, "__dict__", {}).get("_storage"), "_data", None)
    if isinstance(data, contextvars.ContextVar) and data.get(None) is None:
        return None
    return getattr(executors, "current", None)


def asgiref_thread() -> Executor:
    """Return asgiref's process-wide thread: thread-sensitive calls outside any context go there.

    An async test's own ORM calls run there, on a connection of their own.
    """
    executor: Executor = SyncToAsync.single_thread_executor
    return executor


def running_loop() -> asyncio.AbstractEventLoop | None:
    """Return this thread's running event loop, or ``None`` (no exception when there is none)."""
    return asyncio._get_running_loop()


def current_fire_lease() -> Lease | None:
    """Return the lease of the pooled fire this code runs in, if any."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context.lease if isinstance(context, FireContext) else None


def register_exit_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` at exit, before Python joins executor threads.

    ``threading._register_atexit`` hooks run before ``concurrent.futures`` joins its
    threads, so idle workers can still close their own connections; plain ``atexit``
    runs after those joins and is the fallback.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        with contextlib.suppress(RuntimeError):  # the interpreter is already shutting down
            register(hook)
        return
    import atexit

    atexit.register(hook)
