"""The payload contract: one event's kwargs as JSON for a background task, and back.

Only public user fields cross the queue, ``url`` only on opt-in; :func:`decode` trusts
nothing (docs/background-delivery.md).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any, Final

from regstack_django.events import ALL_EVENT_ARGUMENTS, EVENT_ARGUMENTS, SECRET_KWARGS

PAYLOAD_VERSION: Final = 2
#: Versions :func:`decode` reads (a version-1 payload has no ``event_id``).
READABLE_VERSIONS: Final = frozenset({1, 2})
_KEYS: Final = {
    1: frozenset({"version", "event", "sender", "kwargs"}),
    2: frozenset({"version", "event", "event_id", "sender", "kwargs"}),
}
_TIMESTAMP_FIELDS: Final = frozenset({"created_at", "updated_at", "last_login"})

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


class PayloadError(ValueError):
    """A queued payload that is not one this app wrote; the message quotes no value."""


class PayloadVersionError(PayloadError):
    """A queued payload this version of regstack_django cannot read."""


class PublicUser:
    """A regstack user as a background handler gets it: public fields, read-only.

    The same attributes as regstack's user (timestamps as ``datetime``), without
    ``hashed_password``.
    """

    __slots__ = USER_FIELDS

    def __init__(self, fields: Mapping[str, Any]) -> None:
        for name in USER_FIELDS:
            value = fields.get(name)
            if name in _TIMESTAMP_FIELDS and isinstance(value, str):
                value = datetime.datetime.fromisoformat(value)
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only (it is a copy of the event).")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only (it is a copy of the event).")

    def as_dict(self) -> dict[str, Any]:
        """Return the public fields as JSON-ready values (what the payload carried)."""
        return {name: _encode_value(getattr(self, name)) for name in USER_FIELDS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicUser):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash((type(self), getattr(self, "id", None)))

    def __repr__(self) -> str:  # the id only: the rest is personal data
        return f"<PublicUser id={getattr(self, 'id', None)!r}>"


def sender_label(sender: object) -> str:
    """Return what a background handler gets as ``sender``: the sender's dotted class name."""
    cls = type(sender)
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(
    event: str,
    sender: object,
    kwargs: Mapping[str, Any],
    *,
    include_secrets: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Return the JSON-ready payload of one fire; raise UnserializableArgument for a bad kwarg."""
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
        "event_id": event_id if event_id is not None else uuid.uuid4().hex,
        "sender": sender_label(sender),
        "kwargs": encoded,
    }


def decode(
    payload: object, *, include_secrets: bool = False
) -> tuple[str, str | None, str, dict[str, Any]]:
    """Return ``(event, event_id, sender_label, kwargs)`` of a queued payload.

    Raise :class:`PayloadError` for anything this app would not have written;
    ``event_id`` is ``None`` only for a version-1 payload.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(f"The payload is a {type(payload).__name__}, not a JSON object.")
    version = payload.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise PayloadVersionError(
            f"This regstack_django reads payload versions {sorted(READABLE_VERSIONS)}, but "
            f"the task carries version {version!r}: run it with the regstack_django that "
            "queued it."
        )
    keys = set(payload)
    expected = _KEYS[version]
    if keys != expected:
        raise PayloadError(_key_problem("payload", keys, expected))
    event, sender, kwargs = payload["event"], payload["sender"], payload["kwargs"]
    event_id = payload.get("event_id")
    if not isinstance(event, str) or not isinstance(sender, str):
        raise PayloadError("The payload's 'event' and 'sender' must be strings.")
    if version >= 2 and not _is_uuid(event_id):
        raise PayloadError("The payload's 'event_id' is not a UUID.")
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise PayloadError("The payload's 'kwargs' must be a JSON object.")
    _check_arguments(event, set(kwargs), include_secrets)
    decoded = dict(kwargs)
    user = decoded.get("user")
    if isinstance(user, Mapping) and (event in EVENT_ARGUMENTS or set(user) == set(USER_FIELDS)):
        # regstack's events carry a regstack user; a custom event's "user" may be
        # any dict of its own, passed on as it is unless it has exactly these fields.
        if set(user) != set(USER_FIELDS):
            raise PayloadError(_key_problem("user", set(user), frozenset(USER_FIELDS)))
        try:
            decoded["user"] = PublicUser(user)
        except (TypeError, ValueError):
            raise PayloadError("The payload's user has a timestamp that is not ISO 8601.") from None
    elif event in EVENT_ARGUMENTS and "user" in decoded and user is not None:
        raise PayloadError("The payload's 'user' is not a JSON object.")
    return event, event_id, sender, decoded


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _key_problem(what: str, keys: set[str], expected: frozenset[str]) -> str:
    missing, extra = sorted(expected - keys), sorted(keys - expected)
    parts = [f"missing {missing}"] if missing else []
    parts += [f"unexpected {extra}"] if extra else []
    return f"The {what} has the wrong keys: {', '.join(parts)}."


def _check_arguments(event: str, names: set[str], include_secrets: bool) -> None:
    """Raise PayloadError unless a known event's kwargs are those regstack passes."""
    if event not in ALL_EVENT_ARGUMENTS:
        return  # a custom event: the project decides what it carries
    required, optional = ALL_EVENT_ARGUMENTS[event]
    secrets = SECRET_KWARGS if include_secrets else frozenset()
    must = {n for n in required if n not in SECRET_KWARGS or include_secrets}
    may = {*required, *optional} - (SECRET_KWARGS - secrets)
    missing, extra = sorted(must - names), sorted(names - may)
    if missing or extra:
        parts = [f"missing {missing}"] if missing else []
        parts += [f"unexpected {extra}"] if extra else []
        raise PayloadError(f"The arguments of {event!r} are wrong: {', '.join(parts)}.")


class _NoJsonForm(Exception):
    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _encode_value(value: object) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value  # a str subclass (the redacted url type) is a str: kept as is
    if isinstance(value, PublicUser):
        return value.as_dict()
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
