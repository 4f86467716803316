"""Background handlers, fire side: enqueue one Django task per event and entry.

A ``REGSTACK_HOOKS`` entry with ``"background": True`` is connected as the
async receiver :func:`background_receiver` builds. Each fire encodes the
kwargs (:mod:`regstack_django.serialize`, with the fire's ``event_id``: one
per fire, shared by its entries, :mod:`regstack_django.event_ids`), signs
them (:mod:`regstack_django.envelope`) and then, depending on where it runs:

* **durable** (``"durable": True``): inserts an outbox row
  (:mod:`regstack_django.outbox`). Inside the caller's ``transaction.atomic()``
  the row is part of that transaction (committed or rolled back with it);
  otherwise it is written in autocommit. ``manage.py regstack_relay`` then
  hands it to the Tasks backend, and redelivers what no worker finished.
* **not durable**: enqueues :data:`~regstack_django.worker.deliver` through
  the entry's Tasks backend; inside ``atomic()`` with ``on_commit`` (the
  default) on commit, registered ``robust`` and with our own catch, so a
  broker that refuses never breaks the caller nor skips its other callbacks.

Where the work runs: from a Django request or below ``fire_sync``
(:func:`regstack_django.threads.caller_thread_context` is true) one
thread-sensitive hop to the caller's thread, the only place its open
transaction can be seen. From regstack's own routes (a plain event loop, no
transaction possible) the write or enqueue runs on the bridge's own small
executor, never on asgiref's process-wide thread nor behind receivers. A
broker call never waits longer than ``REGSTACK_HOOKS_ENQUEUE_TIMEOUT``: past
it the receiver fails with :class:`EnqueueTimeout` (one ERROR naming the event
and the handler) and the request goes on.
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

__all__ = ["background_receiver", "deliver", "task_with_options"]

#: Threads of the bridge's own enqueue executor (broker calls and outbox writes
#: from regstack's routes). A frozen broker can hold them all; fires then wait
#: only up to their budget and fail, never longer.
ENQUEUE_THREADS: Final = 4


_executor_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def enqueue_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The bridge's own small pool for enqueues (created on first use)."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=ENQUEUE_THREADS, thread_name_prefix="regstack-enqueue"
                )
    return _executor


def _in_own_thread(work: Callable[[], None]) -> None:
    """``work`` on an enqueue thread, with its connections kept fresh as a request would."""
    close_old_connections()
    try:
        work()
    finally:
        close_old_connections()


def _submit(work: Callable[[], None]) -> concurrent.futures.Future[None]:
    """Run ``work`` on an enqueue thread (database connections stay per thread)."""
    return enqueue_executor().submit(_in_own_thread, work)


def task_with_options(options: Mapping[str, Any]) -> Any:
    """:data:`deliver` with an entry's Tasks options; the backend validates them."""
    chosen = chosen_options(options)
    task: Any = deliver  # a Task once decorated; mypy sees the function
    return task.using(**chosen) if chosen else task


class _Delivery:
    """One entry's way of handing over a signed message (built once per entry)."""

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

    # -- work done in some thread ------------------------------------------------------------

    def write(self, event_id: str, message: str) -> None:
        outbox.write(self.event, self.path, event_id, message)

    def enqueue(self, message: str, backend: Any = None) -> None:
        """Enqueue through ``backend``: the caller's backend object, looked up in its thread.

        Django holds Tasks backends per thread/context, so an enqueue thread
        must be handed the caller's object to enqueue where the caller would.
        """
        (backend or self.task.get_backend()).enqueue(self.task, (message,), {})

    def enqueue_within_budget(self, message: str) -> None:
        """From a sync thread: the broker call on an enqueue thread, waited for ≤ budget."""
        backend = self.task.get_backend()
        future = _submit(functools.partial(self.enqueue, message, backend))
        try:
            future.result(timeout=self.budget)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self.timeout() from None

    def on_commit(self, message: str) -> None:
        """The on-commit callback: never raises (one ERROR instead)."""
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
        """In the caller's thread, where its ``atomic()`` (if any) is open."""
        in_atomic = transaction.get_connection().in_atomic_block
        if self.spec.durable:
            self.write(event_id, message)  # part of the caller's transaction, if any
        elif in_atomic and self.spec.on_commit:
            transaction.on_commit(functools.partial(self.on_commit, message), robust=True)
        elif in_atomic:
            self.enqueue(message)  # on_commit=False: inside the transaction, as asked
        else:
            self.enqueue_within_budget(message)

    # -- from async code ---------------------------------------------------------------------

    async def on_own_thread(self, event_id: str, message: str) -> None:
        """From regstack's routes: no transaction can be open; our executor, ≤ budget."""
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
    """The receiver that enqueues ``spec``'s handler instead of running it."""
    delivery = _Delivery(spec)
    hop = sync_to_async(delivery.in_caller_thread, thread_sensitive=True)

    async def receiver(signal: object, sender: object, **kwargs: Any) -> None:
        event_id = event_ids.current()  # one per fire, shared by its background entries
        payload = encode(
            spec.event, sender, kwargs, include_secrets=spec.include_secrets, event_id=event_id
        )
        message = seal(spec.path, spec.durable, payload)
        if caller_thread_context():
            await hop(event_id, message)
        else:
            await delivery.on_own_thread(event_id, message)

    setattr(receiver, NAME_ATTRIBUTE, spec.path)
    return receiver
