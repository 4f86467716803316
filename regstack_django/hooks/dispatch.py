"""The dispatch loop: from one fire to every receiver of one Signal.

This is the heart of the bridge. It owns the loop instead of calling Django's
``send_robust``/``asend_robust``, because those changed between Django 5.2
(``gather``: sync group concurrent with async receivers) and 6.1 (sync group
first, then a ``TaskGroup`` that cancels siblings on a failure), and because
their failure log carries ``str(err)`` on ``django.dispatch`` and crashes on a
``functools.partial``. Here the behaviour is the same on every Django:

* from synchronous code (:func:`dispatch_sync`): sync receivers run inline in
  the caller's thread, in connection order; async receivers are then gathered
  through ``async_to_sync``;
* from async code (:func:`dispatch_async`): all sync receivers run in ONE
  ``sync_to_async`` hop (so the ORM works and the event loop is not blocked),
  concurrently with the async receivers, each in a task (:func:`_run_all`).
  Under a Django request or below ``async_to_sync``
  (:func:`~regstack_django.threads.caller_thread_context`) the hop is
  thread-sensitive and lands in the caller's thread, as Django's own does.
  Anywhere else (regstack's routes) the fire leases a worker of the bridge's
  pool (:mod:`regstack_django.pool`) instead of asgiref's one process-wide
  thread, so concurrent fires never queue behind each other's receivers
  (:func:`_dispatch_pooled`). A sync receiver with a ``timeout`` is waited
  for at most that long (:func:`_run_sync_group_bounded`);
* a receiver that raises is logged once (:func:`record_failure`) and the
  others still run. Failures are returned to the caller, which reports them.

The only private Django API read is ``Signal._live_receivers(sender)``, which
returns ``(sync_receivers, async_receivers)`` on Django 5.0 through 6.x;
``tests/dispatch/test_dispatch_contract.py`` pins that shape on every leg.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import Signal

from regstack_django.failures import (
    ReceiverFailure,
    ReceiverTimeout,
    WorkerUnavailable,
    logger,
    receiver_name,
    record_failure,
)
from regstack_django.hooks import timeouts
from regstack_django.pool import workers
from regstack_django.pool.process import get_pool
from regstack_django.pool.threads import FireContext, caller_thread_context
from regstack_django.signals import receiver_failed

Receiver = Callable[..., Any]


def live_receivers(signal: Signal, sender: object) -> tuple[list[Receiver], list[Receiver]]:
    """``(sync, async)`` receivers of ``signal`` for ``sender``, in connection order."""
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return sync_receivers, async_receivers


def _run_sync_group(
    receivers: Sequence[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    named = {"signal": signal, "sender": sender, **kwargs}  # built once per fire
    for receiver in receivers:
        try:
            receiver(**named)
        except Exception as exc:
            failures.append(record_failure(event, receiver, exc, kwargs))


_opened = threading.local()


def _note_connection(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Remember, per thread, which aliases opened a connection (``connection_created``)."""
    aliases: set[str] | None = getattr(_opened, "aliases", None)
    if aliases is None:
        aliases = _opened.aliases = set()
    aliases.add(connection.alias)


connection_created.connect(_note_connection, weak=False, dispatch_uid="regstack_django.opened")


def _close_stale_connections() -> None:
    """What Django's request cycle does around a request, for a worker hop.

    Connections past ``CONN_MAX_AGE`` or broken are closed (and reopened on
    next use); a connection inside a transaction is never touched, because
    the hop may run in the caller's own thread, inside its ``atomic()``.
    Only aliases this thread has opened are looked at, so a hop whose
    receivers never touch the database pays one attribute lookup. A thread
    seen for the first time is scanned once, in case it opened a connection
    before this module was imported.
    """
    aliases: set[str] | None = getattr(_opened, "aliases", None)
    if aliases is None:
        aliases = _opened.aliases = {c.alias for c in connections.all(initialized_only=True)}
    if not aliases:
        return
    for alias in list(aliases):
        conn = connections[alias]
        if conn.connection is None:
            aliases.discard(alias)
            continue
        if conn.in_atomic_block:
            continue
        try:
            conn.close_if_unusable_or_obsolete()
        except Exception:
            # Checking needs the database (autocommit state); if that fails the
            # receivers' own queries will report it. Dispatch goes on.
            logger.debug("Could not check connection %r around a hop.", alias)
        if conn.connection is None:
            aliases.discard(alias)


def _run_sync_group_in_worker(
    receivers: Sequence[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    _close_stale_connections()
    try:
        _run_sync_group(receivers, signal, sender, event, kwargs, failures)
    finally:
        _close_stale_connections()


_hop = sync_to_async(_run_sync_group_in_worker, thread_sensitive=True)


async def _guarded(
    receiver: Receiver,
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    try:
        await receiver(signal=signal, sender=sender, **kwargs)
    except Exception as exc:
        failures.append(record_failure(event, receiver, exc, kwargs))


async def _run_all(first: Awaitable[None], others: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Await ``first`` in place while ``others`` run concurrently as tasks.

    Cheaper than ``gather``: no task for ``first``, no gathering future, and
    one receiver alone gets no task at all. If the caller is cancelled, the
    others are cancelled too.
    """
    if not others:
        await first
        return
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(coro) for coro in others]
    try:
        await first
        for task in tasks:
            await task
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


async def _run_async_group(
    receivers: Sequence[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    guarded = [_guarded(r, signal, sender, event, kwargs, failures) for r in receivers]
    await _run_all(guarded[0], guarded[1:])


def dispatch_sync(
    signal: Signal, sender: object, event: str, kwargs: dict[str, Any]
) -> list[ReceiverFailure]:
    """Run every receiver from synchronous code; return the failures."""
    failures: list[ReceiverFailure] = []
    sync_receivers, async_receivers = live_receivers(signal, sender)
    if sync_receivers:
        _run_sync_group(sync_receivers, signal, sender, event, kwargs, failures)
    if async_receivers:
        async_to_sync(_run_async_group)(async_receivers, signal, sender, event, kwargs, failures)
    return failures


async def dispatch_async(
    signal: Signal, sender: object, event: str, kwargs: dict[str, Any]
) -> list[ReceiverFailure]:
    """Run every receiver from async code; return the failures."""
    failures: list[ReceiverFailure] = []
    sync_receivers, async_receivers = live_receivers(signal, sender)
    if not sync_receivers and not async_receivers:
        return failures
    if not caller_thread_context():
        lease = get_pool().lease(event, sync_receivers, bind=bool(sync_receivers))
        if lease.worker is not None or not sync_receivers or signal is not receiver_failed:
            await _dispatch_pooled(
                lease, sync_receivers, async_receivers, signal, sender, event, kwargs, failures
            )
            return failures
        # Reports of failures must not wait on (or be refused by) a saturated
        # pool: with no worker free they take the process-wide thread instead.
        lease.close()
    if sync_receivers:
        # The one thread hop runs in place, the async receivers beside it.
        guarded = [_guarded(r, signal, sender, event, kwargs, failures) for r in async_receivers]
        await _run_all(_hop(sync_receivers, signal, sender, event, kwargs, failures), guarded)
    else:
        await _run_async_group(async_receivers, signal, sender, event, kwargs, failures)
    return failures


async def _dispatch_pooled(
    lease: workers.Lease,
    sync_receivers: list[Receiver],
    async_receivers: list[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    """One fire on the bridge's pool: one worker, leased for the whole fire.

    With sync receivers the worker is bound up front (or waited for, within
    ``REGSTACK_HOOKS_WORKER_WAIT``); with async receivers only, it is bound on
    their first ``sync_to_async`` call, if they make one. The async receivers
    run in a :class:`~regstack_django.threads.FireContext`, so their own
    thread-sensitive calls go to this fire's worker too.
    """
    try:
        if not async_receivers:
            await _pooled_sync_group(lease, sync_receivers, signal, sender, event, kwargs, failures)
            return
        with FireContext(lease):
            if not sync_receivers:
                await _run_async_group(async_receivers, signal, sender, event, kwargs, failures)
                return
            guarded = [
                _guarded(r, signal, sender, event, kwargs, failures) for r in async_receivers
            ]
            await _run_all(
                _pooled_sync_group(lease, sync_receivers, signal, sender, event, kwargs, failures),
                guarded,
            )
    except BaseException:
        # Cancelled: a hop the fire stops awaiting still runs on the worker.
        lease.abandon(f"a cancelled fire of {event!r}")
        raise
    finally:
        lease.close()


def _worker_hop(worker: workers.Worker) -> Any:
    """The cached ``sync_to_async`` of the group runner into one worker's thread."""
    hop = worker.sync_to_async
    if hop is None:
        hop = worker.sync_to_async = SyncToAsync(
            _run_sync_group_in_worker, thread_sensitive=False, executor=worker.executor
        )
    return hop


async def _pooled_sync_group(
    lease: workers.Lease,
    receivers: list[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    worker = lease.worker
    if worker is None:
        try:
            worker = await lease.wait_for_worker()
        except WorkerUnavailable as exc:
            for receiver in receivers:
                refused = WorkerUnavailable(f"{receiver_name(receiver)} did not run: {exc}")
                failures.append(record_failure(event, receiver, refused, kwargs))
            return
    hop = worker.sync_to_async or _worker_hop(worker)
    if timeouts.connected_sync_timeouts and any(
        hasattr(r, timeouts.TIMEOUT_ATTRIBUTE) for r in receivers
    ):
        await _run_sync_group_bounded(
            lease, hop, receivers, signal, sender, event, kwargs, failures
        )
    else:
        await hop(receivers, signal, sender, event, kwargs, failures)


async def _run_sync_group_bounded(
    lease: workers.Lease,
    hop: Any,
    receivers: list[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
    failures: list[ReceiverFailure],
) -> None:
    """The sync group on one worker, in connection order, each timed receiver bounded.

    Receivers without a ``timeout`` run together in one hop and are waited
    for as long as they take; each receiver with one gets its own hop on the
    same worker, waited for at most its budget (counted from the hand-over).
    When one overruns, it is reported as timed out, the fire stops waiting
    for the whole rest of the group, and the worker still runs that rest,
    in order, once the slow one returns (their own failures are logged, not
    reported: the fire is over).
    """
    loop = asyncio.get_running_loop()
    start, count = 0, len(receivers)
    while start < count:
        budget: float | None = getattr(receivers[start], timeouts.TIMEOUT_ATTRIBUTE, None)
        if budget is None:
            end = start + 1
            while end < count and not hasattr(receivers[end], timeouts.TIMEOUT_ATTRIBUTE):
                end += 1
            await hop(receivers[start:end], signal, sender, event, kwargs, failures)
            start = end
            continue
        receiver = receivers[start]
        own: list[ReceiverFailure] = []
        task = loop.create_task(hop([receiver], signal, sender, event, kwargs, own))
        try:
            done, _pending = await asyncio.wait((task,), timeout=budget)
        except BaseException:
            _abandon(lease, task, receiver, event)
            _hand_on(lease, receivers[start + 1 :], signal, sender, event, kwargs)
            raise
        if done:
            failures.extend(own)
            start += 1
            continue
        _abandon(lease, task, receiver, event)
        name = receiver_name(receiver)
        timed_out = ReceiverTimeout(timeouts.timeout_message(name, budget))
        failures.append(record_failure(event, receiver, timed_out, kwargs))
        _hand_on(lease, receivers[start + 1 :], signal, sender, event, kwargs)
        return


def _abandon(lease: workers.Lease, task: asyncio.Task[Any], receiver: Receiver, event: str) -> None:
    timeouts.keep_until_done(task)
    lease.abandon(f"{receiver_name(receiver)} (timed out on {event!r}, still running)")


def _hand_on(
    lease: workers.Lease,
    rest: list[Receiver],
    signal: Signal,
    sender: object,
    event: str,
    kwargs: dict[str, Any],
) -> None:
    """Queue the rest of the group on the worker now, behind the slow receiver.

    Submitted synchronously, so it is queued before the lease's release and
    no other fire can get this worker in between.
    """
    if rest and lease.worker is not None:
        context = contextvars.copy_context()
        late: list[ReceiverFailure] = []
        lease.worker.executor.submit(
            context.run, _run_sync_group_in_worker, rest, signal, sender, event, kwargs, late
        )
