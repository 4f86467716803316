"""The worker side of background handlers: the :data:`deliver` task.

A worker trusts nothing it reads from the queue. :func:`deliver`:

1. opens the signed message (:mod:`regstack_django.envelope`): a tampered or
   unsigned argument fails the task;
2. looks the handler up among the *background entries of that event in this
   worker's own* ``REGSTACK_HOOKS``: a dotted path that is not one is never
   imported, let alone run;
3. decodes the payload strictly (:func:`regstack_django.serialize.decode`):
   an unknown version, a missing or extra key, an argument the event does not
   carry fails the task;
4. for a durable entry, skips a delivery whose outbox row is already marked
   delivered (a redelivery that lost the race), runs the handler, and only
   then marks the row delivered; a failure is written to the row (type and
   message, argument values redacted) and fails the task.

Every refusal raises :class:`UntrustedTask` (or :class:`PayloadError`) inside
the task, so the backend records a failed task and the worker goes on.
The handler is called like a receiver: ``handler(signal=<the event's
Signal>, sender=<dotted class name>, event_id=<UUID>, **kwargs)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

from asgiref.sync import async_to_sync
from django.core.signals import setting_changed

from regstack_django.background import outbox
from regstack_django.background.tasks_compat import tasks_module
from regstack_django.envelope import UntrustedMessage, open_envelope
from regstack_django.hooks.entries import HandlerSpec, parse_hooks_setting
from regstack_django.serialize import decode
from regstack_django.signals import signal_for


class UntrustedTask(UntrustedMessage):
    """A task naming something this worker's settings do not make a background handler."""


@cache
def background_entries() -> dict[tuple[str, str], HandlerSpec]:
    """``(event, dotted path) -> spec`` for every valid background entry in settings."""
    return {(s.event, s.path): s for s in parse_hooks_setting().specs if s.background}


def _forget_entries(*, setting: str, **kwargs: Any) -> None:
    if setting in {"REGSTACK_HOOKS", "TASKS"}:
        background_entries.cache_clear()


setting_changed.connect(_forget_entries, weak=False, dispatch_uid="regstack_django.worker")


def the_entry(event: object, handler: str) -> HandlerSpec:
    """The configured background entry ``handler`` of ``event``, or :class:`UntrustedTask`."""
    spec = background_entries().get((event, handler)) if isinstance(event, str) else None
    if spec is None:
        raise UntrustedTask(
            f"{handler!r} is not a background handler of the event {event!r} in this "
            "worker's REGSTACK_HOOKS: nothing was run. (Was it removed from settings while "
            "tasks were queued, or does the worker run other settings than the web process?)"
        )
    return spec


def _message(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> object:
    """The one task argument; any other shape is refused inside the task."""
    if len(args) == 1 and not kwargs:
        return args[0]
    if not args and set(kwargs) == {"message"}:
        return kwargs["message"]
    if not args and {"handler", "payload"} <= set(kwargs):
        raise UntrustedTask(
            "This is an unsigned task queued by regstack_django before 0.2 (payload "
            "version 1): it is refused. Drain the queue before upgrading, or re-fire the event."
        )
    raise UntrustedTask(
        f"The task got {len(args)} positional and {sorted(kwargs)} keyword arguments; it "
        "takes one signed message: nothing was run."
    )


def deliver(*args: Any, **kwargs: Any) -> None:
    """Worker side: verify, then call the configured handler (raises on any failure).

    Takes ``*args, **kwargs`` on purpose: a malformed task row still reaches
    this function, which refuses it with a clear error instead of a bare
    ``TypeError`` from the backend. Decorated as a task below under its own
    name: workers find a task by the function's dotted path.
    """
    handler, durable, payload = open_envelope(_message(args, kwargs))
    spec = the_entry(payload.get("event") if isinstance(payload, Mapping) else None, handler)
    event, event_id, sender, arguments = decode(payload, include_secrets=spec.include_secrets)
    the_id = uuid.UUID(event_id) if event_id is not None else None
    if durable and the_id is not None and not outbox.begin_delivery(the_id, handler):
        return  # delivered already (or pruned after delivery): a redelivery to drop
    func = spec.handler
    call = async_to_sync(func) if spec.is_async else func
    try:
        call(signal=signal_for(event), sender=sender, event_id=the_id, **arguments)
    except Exception as exc:
        if durable and the_id is not None:
            outbox.record_failure(the_id, handler, exc, arguments)
        raise
    if durable and the_id is not None:
        outbox.mark_delivered(the_id, handler)


_tasks = tasks_module()
if _tasks is not None:  # else background entries are refused at start-up (E010)
    deliver = _tasks.task(deliver)
