"""The worker side of background entries: the ``deliver`` task, which trusts nothing it reads.

Its dotted path, ``regstack_django.worker.deliver``, is stored in every queued task
(docs/background.md, "What the worker refuses").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

from asgiref.sync import async_to_sync
from django.core.signals import setting_changed

from regstack_django.background import outbox
from regstack_django.background.tasks_compat import as_task
from regstack_django.context import EventContext
from regstack_django.envelope import UntrustedMessage, refuse_stale, unseal
from regstack_django.failures import loggable, logger
from regstack_django.hooks.entries import HandlerSpec, parse_hooks_setting
from regstack_django.observability import switch
from regstack_django.secrets import SECRET_EVENTS, guard
from regstack_django.serialize import PayloadError, decode
from regstack_django.signals import signal_for


class UntrustedTask(UntrustedMessage):
    """A task naming something this worker's settings do not make a background handler."""


@cache
def background_entries() -> dict[tuple[str, str], HandlerSpec]:
    """Return ``(event, dotted path) -> spec`` for every valid background entry in settings."""
    return {(s.event, s.path): s for s in parse_hooks_setting().specs if s.background}


def _forget_entries(*, setting: str, **kwargs: Any) -> None:
    if setting in {"REGSTACK_HOOKS", "TASKS"}:
        background_entries.cache_clear()


setting_changed.connect(_forget_entries, weak=False, dispatch_uid="regstack_django.worker")


def configured_entry(event: object, handler: str) -> HandlerSpec:
    """Return the background entry ``handler`` of ``event`` in settings, or raise UntrustedTask."""
    spec = background_entries().get((event, handler)) if isinstance(event, str) else None
    if spec is None:
        raise UntrustedTask(
            f"{handler!r} is not a background handler of the event {event!r} in this "
            "worker's REGSTACK_HOOKS: nothing was run. (Was it removed from settings while "
            "tasks were queued, or does the worker run other settings than the web process?)"
        )
    return spec


def _message(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> object:
    """Return the one task argument; refuse any other shape."""
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


def _context(meta: Mapping[str, Any]) -> EventContext | None:
    """Return the request context the message carries (``None``: fired outside a request)."""
    if "context" not in meta:
        return None
    try:
        return EventContext.from_dict(meta["context"])
    except ValueError as exc:
        raise PayloadError(f"The message's context is not one this app wrote: {exc}") from None


# A Task where a Tasks framework is installed: workers import the stored path and
# require a Task there, so the name itself must be the Task (``deliver.func`` is the
# function). Without a framework it stays the function, and E010 refuses every
# background entry.
@as_task
def deliver(*args: Any, **kwargs: Any) -> None:
    """Open one signed message and call the configured handler it names; raise on any failure.

    Takes ``*args, **kwargs`` so that a malformed task still arrives here and is
    refused with a clear error, not a bare ``TypeError`` from the backend.
    """
    message = _message(args, kwargs)
    durable: bool | None = None  # unknown until the message opens
    try:
        opened = unseal(message)
        handler, durable, payload = opened.handler, opened.durable, opened.payload
        refuse_stale(opened)  # a plain message past REGSTACK_MESSAGE_MAX_AGE: a replay
        event_name = payload.get("event") if isinstance(payload, Mapping) else None
        spec = configured_entry(event_name, handler)
        event, event_id, sender, arguments = decode(payload, include_secrets=spec.include_secrets)
        context = _context(opened.meta)
    except (UntrustedMessage, PayloadError) as exc:
        if isinstance(exc, UntrustedMessage):  # once per refused message, with its fix
            logger.error("regstack worker: refused a task: %s", exc)
        if isinstance(message, str) and durable is not False:
            outbox.mark_dead_message(message, exc)  # its row (if any) can never run
        raise
    the_id = uuid.UUID(event_id) if event_id is not None else None
    if durable and the_id is not None and not outbox.begin_delivery(the_id, handler):
        return  # delivered already (or pruned after delivery): a redelivery to drop
    if event in SECRET_EVENTS:
        arguments = guard(arguments)  # the url as a SecretURL: frames render it redacted
    func = spec.handler
    call = async_to_sync(func) if spec.is_async else func
    try:
        if "context" not in arguments:
            arguments["context"] = context
        if switch.on:  # in the trace of the fire that queued it
            from regstack_django.observability import propagation

            carried = opened.meta.get("trace")
            with propagation.delivery_span(event, handler, carried) as ended:
                try:
                    call(signal=signal_for(event), sender=sender, event_id=the_id, **arguments)
                except BaseException as exc:
                    ended(exc)
                    raise
        else:
            call(signal=signal_for(event), sender=sender, event_id=the_id, **arguments)
    except Exception as exc:
        if durable and the_id is not None:
            outbox.record_failure(the_id, handler, exc, arguments)
        failure: BaseException | None = loggable(exc, arguments)
    else:
        failure = None
    if failure is not None:
        # Raised outside the except clause: the task result quotes the redacted one only.
        raise failure
    if durable and the_id is not None:
        outbox.mark_delivered(the_id, handler)
