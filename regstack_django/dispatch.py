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
  thread-sensitive ``sync_to_async`` hop (so the ORM works and the event loop
  is not blocked), concurrently with the async receivers, each in a task
  (:func:`_run_all`);
* a receiver that raises is logged once (:func:`record_failure`) and the
  others still run. Failures are returned to the caller, which reports them.

The only private Django API read is ``Signal._live_receivers(sender)``, which
returns ``(sync_receivers, async_receivers)`` on Django 5.0 through 6.x;
``tests/test_dispatch_contract.py`` pins that shape on every leg.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import Signal

from regstack_django.failures import ReceiverFailure, logger, record_failure

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
    if sync_receivers:
        # The one thread hop runs in place, the async receivers beside it.
        guarded = [_guarded(r, signal, sender, event, kwargs, failures) for r in async_receivers]
        await _run_all(_hop(sync_receivers, signal, sender, event, kwargs, failures), guarded)
    elif async_receivers:
        await _run_async_group(async_receivers, signal, sender, event, kwargs, failures)
    return failures
