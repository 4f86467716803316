"""The dispatch loop: from one fire to every receiver, the same on every Django.

Why it is ours and not ``send_robust``: docs/dispatch.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from django.dispatch import Signal

from regstack_django.failures import (
    ReceiverFailure,
    ReceiverTimeout,
    WorkerUnavailable,
    receiver_name,
    record_failure,
)
from regstack_django.hooks import timeouts
from regstack_django.hooks.wiring import state
from regstack_django.pool import overflow, workers
from regstack_django.pool.connections import close_stale_connections
from regstack_django.pool.process import get_pool
from regstack_django.pool.threads import FireContext, caller_thread_context
from regstack_django.signals import receiver_failed

Receiver = Callable[..., Any]

#: ``(sync receivers, async receivers)``, each in connection order.
LiveReceivers = tuple[list[Receiver], list[Receiver]]


@dataclass(slots=True, eq=False, init=False)
class Fire:
    """One fire: what every receiver is called with, and the failures so far."""

    signal: Signal
    sender: object
    event: str
    kwargs: dict[str, Any]
    failures: list[ReceiverFailure]

    def __init__(self, signal: Signal, sender: object, event: str, kwargs: dict[str, Any]) -> None:
        self.signal = signal
        self.sender = sender
        self.event = event
        self.kwargs = kwargs
        self.failures = []

    def fail(self, receiver: object, exc: BaseException) -> None:
        """Log ``receiver``'s failure once and keep it for the report."""
        self.failures.append(record_failure(self.event, receiver, exc, self.kwargs))

    def detached(self) -> Fire:
        """Return this fire with failures of its own, for work it may stop waiting for."""
        return Fire(self.signal, self.sender, self.event, self.kwargs)


def live_receivers(signal: Signal, sender: object) -> LiveReceivers | None:
    """Return ``(sync, async)`` receivers, or ``None`` where ``has_listeners(sender)`` is false."""
    receivers = signal._live_receivers(sender)
    return receivers if receivers[0] or receivers[1] else None


def _run_sync_group(fire: Fire, receivers: Sequence[Receiver]) -> None:
    named = {"signal": fire.signal, "sender": fire.sender, **fire.kwargs}
    for receiver in receivers:
        try:
            receiver(**named)
        except Exception as exc:
            fire.fail(receiver, exc)


def _run_sync_group_in_thread(fire: Fire, receivers: Sequence[Receiver]) -> None:
    """Run the group off the event loop, with a request's connection handling around it."""
    close_stale_connections()
    try:
        _run_sync_group(fire, receivers)
    finally:
        close_stale_connections()


_run_sync_group_thread_sensitive = sync_to_async(_run_sync_group_in_thread, thread_sensitive=True)


async def _call_async(fire: Fire, receiver: Receiver) -> None:
    try:
        await receiver(signal=fire.signal, sender=fire.sender, **fire.kwargs)
    except Exception as exc:
        fire.fail(receiver, exc)


async def _run_all(first: Awaitable[None], others: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Await ``first`` in place while ``others`` run as tasks (cheaper than ``gather``).

    If the caller is cancelled, the others are cancelled too.
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


async def _run_async_group(fire: Fire, receivers: Sequence[Receiver]) -> None:
    calls = [_call_async(fire, r) for r in receivers]
    await _run_all(calls[0], calls[1:])


def dispatch_sync(fire: Fire, receivers: LiveReceivers) -> None:
    """Run every receiver from synchronous code; failures go to ``fire.failures``."""
    sync_receivers, async_receivers = receivers
    if sync_receivers:
        _run_sync_group(fire, sync_receivers)
    if async_receivers:
        async_to_sync(_run_async_group)(fire, async_receivers)


async def dispatch_async(fire: Fire, receivers: LiveReceivers) -> None:
    """Run every receiver from async code; failures go to ``fire.failures``."""
    sync_receivers, async_receivers = receivers
    if not caller_thread_context():
        lease = get_pool().lease(fire.event, sync_receivers, bind=bool(sync_receivers))
        if lease.worker is not None or not sync_receivers or fire.signal is not receiver_failed:
            await _dispatch_pooled(fire, lease, receivers)
            return
        # Reports of failures must not wait on (or be refused by) a saturated
        # pool: with no worker free they take the process-wide thread instead.
        lease.close()
    if sync_receivers:
        calls = [_call_async(fire, r) for r in async_receivers]
        await _run_all(_run_sync_group_thread_sensitive(fire, sync_receivers), calls)
    else:
        await _run_async_group(fire, async_receivers)


async def _dispatch_pooled(fire: Fire, lease: workers.Lease, receivers: LiveReceivers) -> None:
    """Run one fire on one worker of the bridge's pool, leased for the whole fire.

    The async receivers run in a ``FireContext``: their own thread-sensitive
    calls go to this fire's worker too.
    """
    sync_receivers, async_receivers = receivers
    try:
        if not async_receivers:
            await _pooled_sync_group(fire, lease, sync_receivers)
            return
        with FireContext(lease):
            if not sync_receivers:
                await _run_async_group(fire, async_receivers)
                return
            calls = [_call_async(fire, r) for r in async_receivers]
            await _run_all(_pooled_sync_group(fire, lease, sync_receivers), calls)
    except BaseException:
        # Cancelled: a sync group the fire stops awaiting still runs on the worker.
        lease.abandon(f"a cancelled fire of {fire.event!r}")
        raise
    finally:
        lease.close()


def _sync_group_runner(worker: workers.Worker) -> Any:
    """Make (and cache on ``worker``) the ``SyncToAsync`` that runs a sync group there."""
    worker.sync_to_async = SyncToAsync(
        _run_sync_group_in_thread, thread_sensitive=False, executor=worker.executor
    )
    return worker.sync_to_async


async def _pooled_sync_group(fire: Fire, lease: workers.Lease, receivers: list[Receiver]) -> None:
    worker = lease.worker
    if worker is None:
        try:
            worker = await lease.wait_for_worker()
        except WorkerUnavailable as exc:
            for receiver in receivers:
                if not overflow.is_must_run(receiver):
                    refused = WorkerUnavailable(f"{receiver_name(receiver)} did not run: {exc}")
                    fire.fail(receiver, refused)
            must_run = [r for r in receivers if overflow.is_must_run(r)]
            if must_run:
                await _run_must_run(fire, must_run)
            return
    run_on_worker = worker.sync_to_async or _sync_group_runner(worker)
    if state.sync_timeouts and any(hasattr(r, timeouts.TIMEOUT_ATTRIBUTE) for r in receivers):
        await _run_sync_group_bounded(fire, lease, run_on_worker, receivers)
    else:
        await run_on_worker(fire, receivers)


async def _run_must_run(fire: Fire, receivers: list[Receiver]) -> None:
    """Run must-run receivers refused a worker on the overflow threads, in connection order.

    The fire waits for each at most its ``timeout``; past it, that one is reported
    as timed out and the fire stops waiting, but it and the rest still run.
    """
    alone = [fire.detached() for _ in receivers]
    calls = [functools.partial(_run_sync_group, alone[i], [r]) for i, r in enumerate(receivers)]
    for receiver, one, done in zip(receivers, alone, overflow.run_in_order(calls), strict=True):
        budget: float | None = getattr(receiver, timeouts.TIMEOUT_ATTRIBUTE, None)
        finished, _pending = await asyncio.wait((asyncio.wrap_future(done),), timeout=budget)
        if not finished:
            message = timeouts.timeout_message(receiver_name(receiver), budget or 0)
            fire.fail(receiver, ReceiverTimeout(message))
            return
        fire.failures.extend(one.failures)


async def _run_sync_group_bounded(
    fire: Fire, lease: workers.Lease, run_on_worker: Any, receivers: list[Receiver]
) -> None:
    """Run the sync group on one worker, in connection order, each timed receiver bounded.

    Receivers without a ``timeout`` run together and are waited for as long as
    they take; each one with a ``timeout`` runs alone, waited for at most its
    budget. When one overruns, it is reported as timed out and the fire stops
    waiting; the worker still runs the rest of the group once the slow one
    returns (their failures are logged, not reported: the fire is over).
    """
    loop = asyncio.get_running_loop()
    start, count = 0, len(receivers)
    while start < count:
        budget: float | None = getattr(receivers[start], timeouts.TIMEOUT_ATTRIBUTE, None)
        if budget is None:
            end = start + 1
            while end < count and not hasattr(receivers[end], timeouts.TIMEOUT_ATTRIBUTE):
                end += 1
            await run_on_worker(fire, receivers[start:end])
            start = end
            continue
        receiver = receivers[start]
        alone = fire.detached()
        task = loop.create_task(run_on_worker(alone, [receiver]))
        try:
            done, _pending = await asyncio.wait((task,), timeout=budget)
        except BaseException:
            _abandon(fire, lease, task, receiver)
            _hand_on(fire, lease, receivers[start + 1 :])
            raise
        if done:
            fire.failures.extend(alone.failures)
            start += 1
            continue
        _abandon(fire, lease, task, receiver)
        name = receiver_name(receiver)
        fire.fail(receiver, ReceiverTimeout(timeouts.timeout_message(name, budget)))
        _hand_on(fire, lease, receivers[start + 1 :])
        return


def _abandon(fire: Fire, lease: workers.Lease, task: asyncio.Task[Any], receiver: Receiver) -> None:
    timeouts.keep_until_done(task)
    lease.abandon(f"{receiver_name(receiver)} (timed out on {fire.event!r}, still running)")


def _hand_on(fire: Fire, lease: workers.Lease, rest: list[Receiver]) -> None:
    """Queue the rest of the group behind the slow receiver, before the lease is released."""
    if rest and lease.worker is not None:
        context = contextvars.copy_context()
        lease.worker.executor.submit(context.run, _run_sync_group_in_thread, fire.detached(), rest)
