"""The payload contract: one event's kwargs as JSON for a background task.

What crosses the queue, and nothing more:

* ``{"version": 1, "event": name, "sender": label, "kwargs": {...}}``;
* a regstack user becomes a dict of its public fields (:data:`USER_FIELDS`,
  timestamps as ISO 8601 strings) — never ``hashed_password``, and never a
  field a host added to its user model, which could be just as private;
* ``url`` (a live single-use token) is left out unless the handler opts in
  with ``include_secrets``; ``url_without_token`` stays;
* ``str``/``int``/``float``/``bool``/``None``, dates and times, and lists and
  string-keyed dicts of those pass through; anything else raises
  :class:`UnserializableArgument`, which names the event and the kwarg but
  never quotes the value.

:func:`decode` refuses a payload written by a newer, unknown version with a
clear error instead of guessing.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any, Final

from regstack_django.events import SECRET_KWARGS

PAYLOAD_VERSION: Final = 1

#: The public fields of regstack's ``BaseUser`` that a payload carries.
USER_FIELDS: Final = (
    "id",
    "email",
    "full_name",
    "phone_number",
    "is_active",
    "is_verified",
    "is_superuser",
    "is_mfa_enabled",
    "created_at",
    "updated_at",
    "last_login",
)


class UnserializableArgument(TypeError):
    """A kwarg of an event has no JSON form; the message never quotes its value."""

    def __init__(self, event: str, kwarg: str, type_name: str) -> None:
        super().__init__(
            f"regstack event {event!r}: argument {kwarg!r} (a {type_name}) cannot be "
            "serialised for a background handler."
        )
        self.event = event
        self.kwarg = kwarg


class PayloadVersionError(ValueError):
    """A queued payload this version of regstack_django cannot read."""


def sender_label(sender: object) -> str:
    """What a background handler gets as ``sender``: the sender's dotted class name."""
    cls = type(sender)
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(
    event: str, sender: object, kwargs: Mapping[str, Any], *, include_secrets: bool = False
) -> dict[str, Any]:
    """The JSON-ready payload of one fire (see the module docstring)."""
    encoded: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in SECRET_KWARGS and not include_secrets:
            continue
        try:
            encoded[name] = _encode_value(value)
        except _NoJsonForm as exc:
            raise UnserializableArgument(event, name, exc.type_name) from None
    return {
        "version": PAYLOAD_VERSION,
        "event": event,
        "sender": sender_label(sender),
        "kwargs": encoded,
    }


def decode(payload: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(event, sender_label, kwargs)`` from a queued payload."""
    version = payload.get("version") if isinstance(payload, Mapping) else None
    if version != PAYLOAD_VERSION:
        raise PayloadVersionError(
            f"This regstack_django reads payload version {PAYLOAD_VERSION}, but the task "
            f"carries version {version!r}: run it with the regstack_django that queued it."
        )
    return payload["event"], payload["sender"], dict(payload["kwargs"])


class _NoJsonForm(Exception):
    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _encode_value(value: object) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _NoJsonForm("non-finite float")
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "hashed_password") and hasattr(value, "email"):
        return {name: _encode_value(getattr(value, name, None)) for name in USER_FIELDS}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _encode_value(v) for k, v in value.items()}
    raise _NoJsonForm(type(value).__qualname__)
