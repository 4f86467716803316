"""What happens when a receiver fails: one log line, a name, never a value.

Also every type a failure is reported as (docs/dispatch.md).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regstack_django.redaction import Redact, RedactedError, RedactedErrorGroup, redacted
from regstack_django.secrets import REDACTED, redact, secret_forms

logger = logging.getLogger("regstack_django")

__all__ = [
    "REDACTED",
    "EnqueueTimeout",
    "ReceiverFailure",
    "ReceiverTimeout",
    "RedactedReceiverError",
    "RedactedReceiverErrorGroup",
    "WorkerUnavailable",
    "loggable",
    "receiver_name",
    "record_failure",
    "redactor",
]

#: Attribute our own adapters (``on()`` wrappers, settings adapters) carry so
#: that failures and introspection name the user's handler, not the wrapper.
NAME_ATTRIBUTE = "regstack_django_name"


#: Names given to receivers connected from settings (keyed by ``id``; wiring
#: holds those receivers strongly, so an id cannot be reused while listed).
#: A settings entry is then named by its dotted path wherever it is reported.
_given_names: dict[int, str] = {}


def give_name(receiver: object, name: str) -> None:
    """Report ``receiver`` as ``name`` (wiring calls this for settings entries)."""
    _given_names[id(receiver)] = name


def forget_name(receiver: object) -> None:
    """Stop naming ``receiver`` (wiring calls this when it disconnects one)."""
    _given_names.pop(id(receiver), None)


class ReceiverTimeout(TimeoutError):
    """An async receiver ran past the ``timeout`` set for it in settings."""


class WorkerUnavailable(ReceiverTimeout):
    """Every worker stayed busy for ``REGSTACK_HOOKS_WORKER_WAIT``: the work did not run."""


class EnqueueTimeout(TimeoutError):
    """A background enqueue (or outbox write) ran past ``REGSTACK_HOOKS_ENQUEUE_TIMEOUT``."""


class RedactedReceiverError(RedactedError):
    """Stands in for a receiver's exception whose text held a secret of the fire.

    What the log record, ``receiver_failed`` receivers and fail-loud mode get
    instead of the receiver's own exception. Its message names the original
    type (``"builtins.ValueError: could not send [REDACTED]"``); it keeps the
    notes (redacted), the chain and the traceback's files and lines (in frames
    without locals), so the log still says where the receiver failed.
    """


class RedactedReceiverErrorGroup(RedactedErrorGroup, RedactedReceiverError):
    """Stands in for a receiver's ``ExceptionGroup``; its members are stand-ins too."""


@dataclass(frozen=True, slots=True)
class ReceiverFailure:
    """One receiver that raised (or timed out) during one fire."""

    event: str
    receiver: str
    exception: BaseException


def receiver_name(receiver: object) -> str:
    """Return a dotted name for any receiver: function, method, partial, or object.

    Never raise: a receiver whose attributes are odd still gets a name.
    """
    try:
        return _name(receiver)
    except Exception:  # pragma: no cover - defensive: naming must not fail
        return f"<receiver {type(receiver).__qualname__}>"


def _name(receiver: object) -> str:
    explicit = getattr(receiver, NAME_ATTRIBUTE, None) or _given_names.get(id(receiver))
    if isinstance(explicit, str):
        return explicit
    if isinstance(receiver, functools.partial):
        return f"functools.partial({_name(receiver.func)})"
    qualname = getattr(receiver, "__qualname__", None)
    if isinstance(qualname, str):
        module = getattr(receiver, "__module__", None)
        return f"{module}.{qualname}" if module else qualname
    cls = type(receiver)
    return f"{cls.__module__}.{cls.__qualname__}"


def redactor(kwargs: Mapping[str, Any]) -> Redact | None:
    """Return the one redaction of a fire's failures, or ``None`` if the fire has no secret.

    It replaces every form of :func:`regstack_django.secrets.secret_forms` (derived
    here, on failure only); logs, ``receiver_failed``, fail-loud, the outbox and task
    results all use it.
    """
    forms = secret_forms(kwargs)
    return functools.partial(redact, forms=forms) if forms else None


def loggable(exc: BaseException, kwargs: Mapping[str, Any]) -> BaseException:
    """Return ``exc``, or its redacted stand-in if a text or frame local of it quotes a secret.

    The texts and locals are those :mod:`regstack_django.redaction` walks; the
    stand-in's traceback names the same lines in frames that hold no locals.
    """
    redact_text = redactor(kwargs)
    if redact_text is None:
        return exc
    return redacted(exc, redact_text, RedactedReceiverError, RedactedReceiverErrorGroup)


def record_failure(
    event: str, receiver: object, exc: BaseException, kwargs: Mapping[str, Any]
) -> ReceiverFailure:
    """Log one receiver's failure once and return its record."""
    name = receiver_name(receiver)
    logged = loggable(exc, kwargs)
    logger.error(
        "Receiver %s failed on regstack event %r.",
        name,
        event,
        exc_info=(type(logged), logged, logged.__traceback__),
        extra={"regstack_event": event, "regstack_receiver": name},
    )
    return ReceiverFailure(event=event, receiver=name, exception=logged)
