"""The fire side of background entries: one signed task (or outbox row) per event and entry.

The broker call runs in the caller's thread (to see its transaction) or on a small executor of
our own; the fire waits for it at most ``REGSTACK_HOOKS_ENQUEUE_TIMEOUT`` (then :mod:`overrun`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction

from regstack_django.background import outbox
from regstack_django.background.overrun import Overrun
from regstack_django.background.tasks_compat import TASK_OPTIONS, chosen_options
from regstack_django.conf import ENQUEUE_TIMEOUT_SETTING, conf
from regstack_django.context import EventContext
from regstack_django.envelope import seal
from regstack_django.failures import NAME_ATTRIBUTE, logger
from regstack_django.hooks import event_ids
from regstack_django.hooks.entries import HandlerSpec
from regstack_django.observability import switch
from regstack_django.pool.threads import caller_thread_context
from regstack_django.serialize import encode
from regstack_django.worker import deliver

__all__ = ["background_receiver", "task_with_options"]

#: A frozen broker can hold all of them; fires then still fail at their budget.
ENQUEUE_THREADS: Final = 4


_executor_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def enqueue_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Return the bridge's own small pool for enqueues (created on first use)."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=ENQUEUE_THREADS, thread_name_prefix="regstack-enqueue"
                )
    return _executor


def _in_own_thread(work: Callable[[], None]) -> None:
    """Run ``work``, keeping the thread's connections fresh as a request would."""
    close_old_connections()
    try:
        work()
    finally:
        close_old_connections()


def _submit(work: Callable[[], None]) -> concurrent.futures.Future[None]:
    """Run ``work`` on an enqueue thread (database connections stay per thread)."""
    return enqueue_executor().submit(_in_own_thread, work)


def task_with_options(options: Mapping[str, Any]) -> Any:
    """Return the ``deliver`` task with an entry's Tasks options; the backend validates them."""
    chosen = chosen_options(options)
    return deliver.using(**chosen) if chosen else deliver


class _Handover:
    """How one entry hands a signed message to its backend or the outbox (built once)."""

    def __init__(self, spec: HandlerSpec) -> None:
        self.spec = spec
        self.event = spec.event
        self.path = spec.path
        self.task = task_with_options({name: getattr(spec, name) for name in TASK_OPTIONS})
        self.budget = conf.seconds(ENQUEUE_TIMEOUT_SETTING)

    def overrun(self, started: float, kwargs: Mapping[str, Any]) -> Overrun:
        return Overrun(self.event, self.path, self.spec.durable, self.budget, started, kwargs)

    def write(self, event_id: str, message: str) -> None:
        outbox.write(self.event, self.path, event_id, message)

    def enqueue(self, message: str, backend: Any = None) -> None:
        """Enqueue through ``backend``, the caller's own object when on another thread.

        Django holds Tasks backends per thread, so an enqueue thread is handed the caller's.
        """
        (backend or self.task.get_backend()).enqueue(self.task, (message,), {})

    def enqueue_within_budget(self, message: str, kwargs: Mapping[str, Any]) -> None:
        """Enqueue on an enqueue thread; wait for it at most the budget, then report it later."""
        backend = self.task.get_backend()
        started = time.monotonic()
        future = _submit(functools.partial(self.enqueue, message, backend))
        done, _ = concurrent.futures.wait((future,), timeout=self.budget)
        if done:
            future.result()  # the broker's own error (a socket timeout too) is a failure now
        else:
            self.overrun(started, kwargs).follow(future, "the budget ran out")

    def on_commit(self, message: str, kwargs: Mapping[str, Any]) -> None:
        """Enqueue after the commit; log one ERROR instead of raising."""
        try:
            self.enqueue_within_budget(message, kwargs)
        except Exception:
            logger.exception(
                "regstack event %r: enqueueing background handler %s after the commit "
                "failed; this delivery is lost (make the entry durable to keep it).",
                self.event,
                self.path,
            )

    def in_caller_thread(self, event_id: str, message: str, kwargs: Mapping[str, Any]) -> None:
        """Write or enqueue in the caller's thread, where its ``atomic()`` (if any) is open."""
        in_atomic = transaction.get_connection().in_atomic_block
        if self.spec.durable:
            self.write(event_id, message)
        elif in_atomic and self.spec.on_commit:
            callback = functools.partial(self.on_commit, message, kwargs)
            transaction.on_commit(callback, robust=True)
        elif in_atomic:
            self.enqueue(message)
        else:
            self.enqueue_within_budget(message, kwargs)

    async def on_own_thread(self, event_id: str, message: str, kwargs: Mapping[str, Any]) -> None:
        """Write or enqueue on our executor (regstack's routes: no transaction is open)."""
        work = (
            functools.partial(self.write, event_id, message)
            if self.spec.durable
            else functools.partial(self.enqueue, message, self.task.get_backend())
        )
        started = time.monotonic()
        future = _submit(work)
        waited = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait((waited,), timeout=self.budget)
        except asyncio.CancelledError:
            waited.cancel()
            self.overrun(started, kwargs).follow(future, "the fire was cancelled")
            raise
        if done:
            waited.result()
        else:
            waited.cancel()  # its outcome is the overrun's to report, not asyncio's
            self.overrun(started, kwargs).follow(future, "the budget ran out")


def background_receiver(spec: HandlerSpec) -> Callable[..., Any]:
    """Return the receiver that enqueues ``spec``'s handler instead of running it."""
    handover = _Handover(spec)
    in_caller_thread = sync_to_async(handover.in_caller_thread, thread_sensitive=True)

    async def receiver(signal: object, sender: object, **kwargs: Any) -> None:
        event_id = event_ids.current()
        context = kwargs.get("context")
        if context is None or isinstance(context, EventContext):
            kwargs.pop("context", None)  # it travels beside the payload, in the message's meta
        payload = encode(
            spec.event, sender, kwargs, include_secrets=spec.include_secrets, event_id=event_id
        )
        meta = {"context": context.as_dict()} if isinstance(context, EventContext) else None
        if switch.on:  # the trace crosses the queue inside the signed message
            from regstack_django.observability import propagation

            meta = propagation.with_trace(meta)
        message = seal(spec.path, spec.durable, payload, meta)
        if caller_thread_context():
            await in_caller_thread(event_id, message, kwargs)
        else:
            await handover.on_own_thread(event_id, message, kwargs)

    setattr(receiver, NAME_ATTRIBUTE, spec.path)
    return receiver
