"""The receivers that write ``AuthEvent`` rows: what is stored is a whitelist, never a secret.

``url`` (a live token), the user object (its password hash) and unknown kwargs are never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.dispatch import Signal
from django.utils import timezone

from regstack_django import signals
from regstack_django.audit import writer
from regstack_django.audit.models import LOGIN_FAILED, RECEIVER_FAILED
from regstack_django.events import HOOKABLE_EVENTS
from regstack_django.failures import redactor
from regstack_django.hooks import event_ids
from regstack_django.pool.overflow import MUST_RUN_ATTRIBUTE
from regstack_django.redaction import RedactedError

#: Every event the log stores: regstack's 20 and the bridge's own (``login_failed``).
AUDITED_EVENTS = tuple(sorted(HOOKABLE_EVENTS))

#: Event kwargs stored as they are (JSON scalars); ``url`` and ``user`` are deliberately absent.
SAFE_DETAILS = ("provider", "mode", "was_new", "mfa_required", "new_email", "previous_email")
#: ``login_failed``'s reason is stored too (never the password: the event has none).
SAFE_FAILURE_DETAILS = ("reason",)


def mask_phone(phone: str) -> str:
    """Return ``+15555550123`` as ``+*******0123``: enough to recognise, not to dial."""
    if len(phone) <= 4:
        return "*" * len(phone)
    head = "+" if phone.startswith("+") else ""
    return head + "*" * (len(phone) - len(head) - 4) + phone[-4:]


def _scrubbed(value: Any, redact: Callable[[str], str] | None) -> Any:
    if redact is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _scrubbed(v, redact) for k, v in value.items()}
    return value


def _context(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    context = kwargs.get("context")
    if context is None:
        return None
    as_dict = getattr(context, "as_dict", None)
    found = as_dict() if callable(as_dict) else context
    return {str(k): v for k, v in found.items()} if isinstance(found, Mapping) else None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def event_fields(event: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``AuthEvent`` field values for one fire of ``event`` (no secret among them)."""
    user = kwargs.get("user")
    user_id = getattr(user, "id", None)
    email = getattr(user, "email", None) or kwargs.get("email") or ""
    names = SAFE_DETAILS + (SAFE_FAILURE_DETAILS if event == LOGIN_FAILED else ())
    details = {n: kwargs[n] for n in names if n in kwargs and _scalar(kwargs[n])}
    if isinstance(kwargs.get("phone"), str):
        details["phone"] = mask_phone(kwargs["phone"])
    redact = redactor(kwargs)  # None unless the fire carries a secret
    context = _scrubbed(_context(kwargs), redact)
    event_id = kwargs.get("event_id")
    return {
        "event": event,
        "user_id": "" if user_id is None else str(user_id)[:64],
        "email": str(email)[:320],
        "client_ip": (context or {}).get("client_ip") or None,
        "context": context,
        "details": _scrubbed(details, redact),
        "event_id": str(event_id) if event_id else event_ids.current(),
        "created_at": timezone.now(),
    }


def record_event(sender: object, signal: Signal, **kwargs: Any) -> None:
    """Store one event: its fields now, the row by :mod:`.writer` (the login does not wait)."""
    writer.save(event_fields(signals.event_name(signal), kwargs))


def record_receiver_failure(
    sender: object, event: str, receiver: str, exception: BaseException, **kwargs: Any
) -> None:
    """Store a failed receiver: the event, its dotted name and the exception's type only."""
    context = _context(kwargs)
    writer.save(
        {
            "event": RECEIVER_FAILED,
            "client_ip": (context or {}).get("client_ip") or None,
            "context": context,
            "details": {
                "event": str(event),
                "receiver": str(receiver),
                "error": error_type(exception),
            },
            "event_id": event_ids.current(),
            "created_at": timezone.now(),
        }
    )


def error_type(exception: BaseException) -> str:
    """Return the dotted type of ``exception``; for a redacted stand-in, the original's."""
    if isinstance(exception, RedactedError):  # its message: "<module>.<type>: <redacted text>"
        return str(exception.args[0] if exception.args else "").split(":", 1)[0][:200]
    error = type(exception)
    return f"{error.__module__}.{error.__qualname__}"


#: Never skipped when every worker of the bridge's pool is busy: they run on its overflow
#: threads instead (they only take the fields and queue the row, so the fire barely waits).
for _recorder in (record_event, record_receiver_failure):
    setattr(_recorder, MUST_RUN_ATTRIBUTE, True)


def connect() -> None:
    """Connect the recorders to every audited event and to ``receiver_failed`` (idempotent)."""
    for event in AUDITED_EVENTS:
        signals.signal_for(event).connect(
            record_event, weak=False, dispatch_uid=f"regstack_django.audit.{event}"
        )
    signals.receiver_failed.connect(
        record_receiver_failure, weak=False, dispatch_uid="regstack_django.audit.receiver_failed"
    )


def disconnect() -> None:
    """Disconnect what :func:`connect` connected (benchmarks and tests)."""
    for event in AUDITED_EVENTS:
        signals.signal_for(event).disconnect(dispatch_uid=f"regstack_django.audit.{event}")
    signals.receiver_failed.disconnect(dispatch_uid="regstack_django.audit.receiver_failed")
