"""What happens when a receiver fails: one log line, a name, never a value.

Every failure of a receiver (an exception, or an async receiver past its
``timeout``) goes through :func:`record_failure`, which writes exactly one
ERROR record on the ``regstack_django`` logger with the event name, the
receiver's dotted name and ``exc_info``. The event's argument values never
reach the record: if a receiver's exception message quotes a live token URL
or a password hash, the logged copy of the exception has it replaced.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regstack_django.events import SECRET_KWARGS

logger = logging.getLogger("regstack_django")

REDACTED = "[REDACTED]"

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
    _given_names.pop(id(receiver), None)


class ReceiverTimeout(TimeoutError):
    """An async receiver ran past the ``timeout`` set for it in settings."""


class RedactedReceiverError(Exception):
    """Stands in, in a log record, for an exception whose text held a secret.

    It keeps the original traceback and names the original type, so the log
    still says where the receiver failed.
    """


@dataclass(frozen=True, slots=True)
class ReceiverFailure:
    """One receiver that raised (or timed out) during one fire."""

    event: str
    receiver: str
    exception: BaseException


def receiver_name(receiver: object) -> str:
    """A dotted name for any receiver: function, method, partial, or object.

    Never raises: a receiver whose attributes are odd still gets a name.
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


def _secrets_in(kwargs: Mapping[str, Any]) -> list[str]:
    """The secret values among one event's arguments (live token URLs)."""
    found = [v for k in SECRET_KWARGS if isinstance(v := kwargs.get(k), str) and v]
    user = kwargs.get("user")
    hashed = getattr(user, "hashed_password", None)
    if isinstance(hashed, str) and hashed:
        found.append(hashed)
    return found


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _loggable(exc: BaseException, kwargs: Mapping[str, Any]) -> BaseException:
    """``exc`` itself, or a stand-in chain without secrets if any text quotes one."""
    secrets = _secrets_in(kwargs)
    if not secrets:
        return exc
    chain = _chain(exc)
    if not any(secret in _safe_str(e) for e in chain for secret in secrets):
        return exc
    # Rebuild the whole chain (cause/context links and tracebacks kept), with
    # every message redacted; the receiver's own exceptions are not touched.
    stand_ins = [
        RedactedReceiverError(
            f"{type(e).__module__}.{type(e).__qualname__}: {_redact(_safe_str(e), secrets)}"
        ).with_traceback(e.__traceback__)
        for e in chain
    ]
    for original, stand_in, following in zip(chain, stand_ins, stand_ins[1:], strict=False):
        if original.__cause__ is not None:
            stand_in.__cause__ = following
        else:
            stand_in.__context__ = following
    return stand_ins[0]


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__qualname__}>"


def record_failure(
    event: str, receiver: object, exc: BaseException, kwargs: Mapping[str, Any]
) -> ReceiverFailure:
    """Log one receiver's failure once and return its record."""
    name = receiver_name(receiver)
    logged = _loggable(exc, kwargs)
    logger.error(
        "Receiver %s failed on regstack event %r.",
        name,
        event,
        exc_info=(type(logged), logged, logged.__traceback__),
        extra={"regstack_event": event, "regstack_receiver": name},
    )
    return ReceiverFailure(event=event, receiver=name, exception=exc)
