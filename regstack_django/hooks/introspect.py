"""Who is connected to regstack's signals, and how: for ``manage.py regstack_hooks`` and checks.

The one place that reads Django's private ``Signal.receivers`` (pinned by
``tests/dispatch/test_introspect_contract.py``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict

from asgiref.sync import iscoroutinefunction
from django.dispatch import Signal

from regstack_django.events import BRIDGE_EVENTS, HOOKABLE_EVENTS, KNOWN_EVENTS
from regstack_django.failures import receiver_name
from regstack_django.hooks.wiring import settings_connections
from regstack_django.registry import SOURCE_ATTRIBUTE
from regstack_django.signals import custom_events, signal_for

if TYPE_CHECKING:
    from regstack_django.hooks.entries import HandlerSpec

Source = Literal["settings", "receiver", "registry.on"]


class ReceiverRow(TypedDict):
    name: str
    kind: Literal["sync", "async"]
    delivery: Literal["inline", "background", "durable"]
    source: Source
    #: A settings entry's options that differ from their defaults (``{}`` otherwise).
    options: dict[str, Any]


class EventRow(TypedDict):
    event: str
    receivers: list[ReceiverRow]


class Connected(NamedTuple):
    """One live entry of ``Signal.receivers``."""

    #: ``(dispatch_uid or id(receiver), id(sender))``: what Django matches on.
    lookup_key: Any
    receiver: Callable[..., Any]
    is_async: bool


def signal_receivers(signal: Signal) -> list[Connected]:
    """Return every live receiver of ``signal``, for any sender, in connection order.

    Entries are ``(lookup_key, receiver_or_weakref, is_async)`` on Django 5.2 and
    ``(lookup_key, receiver_or_weakref, sender_ref, is_async)`` on 6.x: only
    ``[0]``, ``[1]`` and ``[-1]`` are read, so both shapes work.
    """
    with signal.lock:
        entries = list(signal.receivers)
    found: list[Connected] = []
    for entry in entries:
        target: Any = entry[1]
        if isinstance(target, weakref.ReferenceType):  # also WeakMethod
            target = target()
            if target is None:
                continue
        found.append(Connected(lookup_key=entry[0], receiver=target, is_async=bool(entry[-1])))
    return found


def has_receivers(signal: Signal) -> bool:
    """Return whether any receiver is connected, for any sender.

    ``Signal.has_listeners()`` only counts receivers of one sender (``None``: those
    connected without one), so it misses ``HookRegistry.on`` adapters.
    """
    return bool(signal_receivers(signal))


def from_registry_on(receiver: Callable[..., Any]) -> bool:
    """Return whether ``receiver`` is an adapter ``HookRegistry.on`` connected."""
    return getattr(receiver, SOURCE_ATTRIBUTE, None) == "registry.on"


def listed_events() -> list[str]:
    """Return regstack's events, the bridge's, then custom ones with a receiver, each sorted."""
    custom = sorted(e for e in custom_events() - HOOKABLE_EVENTS if has_receivers(signal_for(e)))
    return sorted(KNOWN_EVENTS) + sorted(BRIDGE_EVENTS) + custom


def event_rows(events: list[str]) -> list[EventRow]:
    """Return the receivers of each of ``events``, in connection order.

    A receiver is from settings when it is the very receiver a ``REGSTACK_HOOKS``
    entry connected under its ``dispatch_uid``; the same function also connected
    with ``@receiver`` is listed once more. ``kind`` is that of the user's handler
    (a background entry is connected as an async adapter, whatever it is).
    """
    from_settings = {c.spec.dispatch_uid: c for c in settings_connections()}
    rows: list[EventRow] = []
    for event in events:
        receivers: list[ReceiverRow] = []
        for lookup_key, receiver, is_async in signal_receivers(signal_for(event)):
            connection = from_settings.get(_uid(lookup_key))
            if connection is not None and connection.receiver is receiver:
                spec = connection.spec
                delivery = _delivery(spec.background, spec.durable)
                row = _row(receiver, spec.is_async, delivery, "settings", _options(spec))
            else:
                source: Source = "registry.on" if from_registry_on(receiver) else "receiver"
                runs_async = is_async or iscoroutinefunction(receiver)
                row = _row(receiver, runs_async, "inline", source, {})
            receivers.append(row)
        rows.append({"event": event, "receivers": receivers})
    return rows


Delivery = Literal["inline", "background", "durable"]
#: The options a row shows, with the value each has when not set.
_SHOWN_OPTIONS = (
    ("timeout", None),
    ("must_run", False),
    ("on_commit", True),
    ("include_secrets", False),
    ("queue_name", None),
    ("priority", None),
    ("backend", None),
)


def _delivery(background: bool, durable: bool) -> Delivery:
    if durable:
        return "durable"
    return "background" if background else "inline"


def _options(spec: HandlerSpec) -> dict[str, Any]:
    """Return the entry's options that differ from their defaults (``on_commit``: background)."""
    shown = {}
    for name, default in _SHOWN_OPTIONS:
        value = getattr(spec, name)
        applies = name != "on_commit" or (spec.background and not spec.durable)
        if applies and value != default:
            shown[name] = value
    return shown


def _row(
    receiver: Callable[..., Any],
    is_async: bool,
    delivery: Delivery,
    source: Source,
    options: dict[str, Any],
) -> ReceiverRow:
    return {
        "name": receiver_name(receiver),
        "kind": "async" if is_async else "sync",
        "delivery": delivery,
        "source": source,
        "options": options,
    }


def _uid(lookup_key: Any) -> Any:
    """Return the ``dispatch_uid`` (or receiver id) part of a lookup key."""
    return lookup_key[0] if isinstance(lookup_key, tuple) and lookup_key else None
