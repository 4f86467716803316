"""The fire side of background entries: one signed task (or outbox row) per event and entry.

The broker call runs in the caller's thread (to see its transaction) or on a small
executor of our own, and never waits past ``REGSTACK_HOOKS_ENQUEUE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction

from regstack_django.background import outbox
from regstack_django.background.tasks_compat import TASK_OPTIONS, chosen_options
from regstack_django.conf import ENQUEUE_TIMEOUT_SETTING, conf
from regstack_django.envelope import seal
from regstack_django.failures import NAME_ATTRIBUTE, EnqueueTimeout, logger
from regstack_django.hooks import event_ids
from regstack_django.hooks.entries import HandlerSpec
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

    def timeout(self) -> EnqueueTimeout:
        outcome = (
            "the outbox write may still finish (then the relay delivers it) or not"
            if self.spec.durable
            else "this delivery is lost"
        )
        return EnqueueTimeout(
            f"enqueueing {self.path} for {self.event!r} took longer than "
            f"{self.budget:g}s ({ENQUEUE_TIMEOUT_SETTING}); {outcome}."
        )

    def write(self, event_id: str, message: str) -> None:
        outbox.write(self.event, self.path, event_id, message)

    def enqueue(self, message: str, backend: Any = None) -> None:
        """Enqueue through ``backend``, the caller's own object when on another thread.

        Django holds Tasks backends per thread, so an enqueue thread is handed the caller's.
        """
        (backend or self.task.get_backend()).enqueue(self.task, (message,), {})

    def enqueue_within_budget(self, message: str) -> None:
        """Enqueue on an enqueue thread and wait for it at most the budget."""
        backend = self.task.get_backend()
        future = _submit(functools.partial(self.enqueue, message, backend))
        try:
            future.result(timeout=self.budget)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self.timeout() from None

    def on_commit(self, message: str) -> None:
        """Enqueue after the commit; log one ERROR instead of raising."""
        try:
            self.enqueue_within_budget(message)
        except Exception:
            logger.exception(
                "regstack event %r: enqueueing background handler %s after the commit "
                "failed; this delivery is lost (make the entry durable to keep it).",
                self.event,
                self.path,
            )

    def in_caller_thread(self, event_id: str, message: str) -> None:
        """Write or enqueue in the caller's thread, where its ``atomic()`` (if any) is open."""
        in_atomic = transaction.get_connection().in_atomic_block
        if self.spec.durable:
            self.write(event_id, message)
        elif in_atomic and self.spec.on_commit:
            transaction.on_commit(functools.partial(self.on_commit, message), robust=True)
        elif in_atomic:
            self.enqueue(message)
        else:
            self.enqueue_within_budget(message)

    async def on_own_thread(self, event_id: str, message: str) -> None:
        """Write or enqueue on our executor (regstack's routes: no transaction is open)."""
        work = (
            functools.partial(self.write, event_id, message)
            if self.spec.durable
            else functools.partial(self.enqueue, message, self.task.get_backend())
        )
        future = asyncio.wrap_future(_submit(work))
        try:
            await asyncio.wait_for(future, self.budget)
        except TimeoutError:
            raise self.timeout() from None


def background_receiver(spec: HandlerSpec) -> Callable[..., Any]:
    """Return the receiver that enqueues ``spec``'s handler instead of running it."""
    handover = _Handover(spec)
    in_caller_thread = sync_to_async(handover.in_caller_thread, thread_sensitive=True)

    async def receiver(signal: object, sender: object, **kwargs: Any) -> None:
        event_id = event_ids.current()
        payload = encode(
            spec.event, sender, kwargs, include_secrets=spec.include_secrets, event_id=event_id
        )
        message = seal(spec.path, spec.durable, payload)
        if caller_thread_context():
            await in_caller_thread(event_id, message)
        else:
            await handover.on_own_thread(event_id, message)

    setattr(receiver, NAME_ATTRIBUTE, spec.path)
    return receiver
