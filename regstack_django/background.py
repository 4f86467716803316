"""Background handlers: enqueue one Django task per event, run it in a worker.

A ``REGSTACK_HOOKS`` entry with ``"background": True`` is connected as the
async receiver :func:`background_receiver` builds. On each fire it encodes the
kwargs (:mod:`regstack_django.serialize`) and enqueues :data:`deliver` through
the project's Tasks backend, with the entry's ``queue_name``/``priority``/
``backend``. With ``on_commit`` (the default), an event fired inside
``transaction.atomic()`` on the default database is enqueued when that
transaction commits, and never if it rolls back.

In the worker, :func:`deliver` imports the handler and calls it like a
receiver: ``handler(signal=<the event's Signal>, sender=<dotted class name of
the original sender>, **decoded_kwargs)``. A handler that raises fails the
task, so the backend's retries and failure records apply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.db import transaction
from django.utils.module_loading import import_string

from regstack_django.failures import NAME_ATTRIBUTE
from regstack_django.handlers import HandlerSpec
from regstack_django.serialize import decode, encode
from regstack_django.signals import signal_for
from regstack_django.tasks_compat import tasks_module


def deliver(handler: str, payload: dict[str, Any]) -> None:
    """Worker side: call ``handler`` with the decoded event (raises on failure).

    Decorated as a task below under its own name: workers find a task by the
    function's dotted path, which must lead back to the Task object.
    """
    event, sender, kwargs = decode(payload)
    func = import_string(handler)
    call = async_to_sync(func) if iscoroutinefunction(func) else func
    call(signal=signal_for(event), sender=sender, **kwargs)


_tasks = tasks_module()
if _tasks is not None:  # else background entries are refused at start-up (E010)
    deliver = _tasks.task(deliver)


def _defer_if_in_transaction(task: Any, arguments: dict[str, Any]) -> bool:
    """In the caller's thread: queue the enqueue on commit if inside ``atomic()``."""
    if not transaction.get_connection().in_atomic_block:
        return False
    transaction.on_commit(functools.partial(task.enqueue, **arguments))
    return True


_defer_from_async = sync_to_async(_defer_if_in_transaction, thread_sensitive=True)


TASK_OPTIONS = ("queue_name", "priority", "backend")


def task_with_options(options: Mapping[str, Any]) -> Any:
    """:data:`deliver` with an entry's Tasks options; the backend validates them."""
    chosen = {name: options[name] for name in TASK_OPTIONS if options.get(name) is not None}
    task: Any = deliver  # a Task once decorated; mypy sees the function
    return task.using(**chosen) if chosen else task


def background_receiver(spec: HandlerSpec) -> Callable[..., Any]:
    """The receiver that enqueues ``spec``'s handler instead of running it."""
    options = {name: getattr(spec, name) for name in TASK_OPTIONS}

    async def receiver(signal: object, sender: object, **kwargs: Any) -> None:
        payload = encode(spec.event, sender, kwargs, include_secrets=spec.include_secrets)
        task = task_with_options(options)
        arguments = {"handler": spec.path, "payload": payload}
        if spec.on_commit and await _defer_from_async(task, arguments):
            return
        await task.aenqueue(**arguments)

    setattr(receiver, NAME_ATTRIBUTE, spec.path)
    return receiver
