"""``manage.py regstack_hooks``: which receiver runs on which regstack event, and how.

Receivers reach a regstack event three ways (a ``REGSTACK_HOOKS`` entry, an
``@receiver``/``connect`` on the event's Signal, ``HookRegistry.on``), some run
inline and some are enqueued as background tasks. This command lists them all
in one place, per event, with each receiver's dotted name (the one failure
logs use), whether it is sync or async, inline or background, and where it was
connected. ``--json`` gives the same for machines; event names as arguments
narrow the list. A broken ``REGSTACK_HOOKS`` is reported with the system
check's words and a non-zero exit.
"""

from __future__ import annotations

import difflib
import json
import weakref
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypedDict

from asgiref.sync import iscoroutinefunction
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.dispatch import Signal

from regstack_django.checks.messages import as_text
from regstack_django.events import KNOWN_EVENTS
from regstack_django.failures import receiver_name
from regstack_django.hooks.entries import parse_hooks_setting
from regstack_django.hooks.wiring import invalid_settings_message, settings_connections
from regstack_django.registry import SOURCE_ATTRIBUTE
from regstack_django.signals import custom_events, signal_for

Source = Literal["settings", "receiver", "registry.on"]


class ReceiverRow(TypedDict):
    name: str
    kind: Literal["sync", "async"]
    delivery: Literal["inline", "background"]
    source: Source


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
    """Every live receiver of ``signal``, in connection order.

    Every sender is included (``Signal._live_receivers`` would filter by one).
    This reads the private ``Signal.receivers`` list, whose entries are
    ``(lookup_key, receiver_or_weakref, is_async)`` on Django 5.2 and
    ``(lookup_key, receiver_or_weakref, sender_ref, is_async)`` on 6.x: only
    elements ``[0]``, ``[1]`` and ``[-1]`` are used, so both shapes work.
    ``tests/commands/test_regstack_hooks_command.py`` pins the shape on every Django
    leg. Weakly connected receivers are dereferenced; dead ones are skipped.
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


def _from_registry_on(receiver: Callable[..., Any]) -> bool:
    return getattr(receiver, SOURCE_ATTRIBUTE, None) == "registry.on"


def event_rows(events: list[str]) -> list[EventRow]:
    """The receivers of each of ``events``, in connection order.

    A receiver is from settings when it is (by identity) the receiver a
    ``REGSTACK_HOOKS`` entry connected, under that entry's ``dispatch_uid``:
    the same function also connected with ``@receiver`` is listed twice, once
    from each source. ``kind`` is that of the user's handler (a background
    entry is connected as an async adapter that enqueues it, whatever it is).
    """
    from_settings = {c.spec.dispatch_uid: c for c in settings_connections()}
    rows: list[EventRow] = []
    for event in events:
        receivers: list[ReceiverRow] = []
        for lookup_key, receiver, is_async in signal_receivers(signal_for(event)):
            connection = from_settings.get(_uid(lookup_key))
            if connection is not None and connection.receiver is receiver:
                spec = connection.spec
                receivers.append(
                    {
                        "name": receiver_name(receiver),
                        "kind": "async" if spec.is_async else "sync",
                        "delivery": "background" if spec.background else "inline",
                        "source": "settings",
                    }
                )
                continue
            receivers.append(
                {
                    "name": receiver_name(receiver),
                    "kind": "async" if is_async or iscoroutinefunction(receiver) else "sync",
                    "delivery": "inline",
                    "source": "registry.on" if _from_registry_on(receiver) else "receiver",
                }
            )
        rows.append({"event": event, "receivers": receivers})
    return rows


def _uid(lookup_key: Any) -> Any:
    """The ``dispatch_uid`` (or receiver id) part of a lookup key."""
    return lookup_key[0] if isinstance(lookup_key, tuple) and lookup_key else None


def _listed_events() -> list[str]:
    """The known events, then the custom events that have a receiver, each sorted."""
    custom = sorted(e for e in custom_events() - KNOWN_EVENTS if signal_for(e).receivers)
    return sorted(KNOWN_EVENTS) + custom


def _as_table(rows: list[EventRow]) -> str:
    header = ("EVENT", "RECEIVER", "KIND", "DELIVERY", "SOURCE")
    lines: list[tuple[str, ...]] = []
    for row in rows:
        if not row["receivers"]:
            lines.append((row["event"], "-", "", "", ""))
        for index, r in enumerate(row["receivers"]):
            event = row["event"] if index == 0 else ""
            lines.append((event, r["name"], r["kind"], r["delivery"], r["source"]))
    widths = [max(len(line[i]) for line in (header, *lines)) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, *lines)
    ]
    count = sum(len(row["receivers"]) for row in rows)
    busy = sum(1 for row in rows if row["receivers"])
    text.append("")
    text.append(f"{count} receiver(s) on {busy} of {len(rows)} event(s).")
    return "\n".join(text)


class Command(BaseCommand):
    help = (
        "List every regstack event with its receivers: dotted name, sync/async, "
        "inline/background, and whether it comes from settings, @receiver or registry.on."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "events",
            nargs="*",
            metavar="event",
            help="Only list these events (default: every known event, plus custom "
            "events that have receivers).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print JSON: a list of {event, receivers: [{name, kind, delivery, source}]}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        errors = parse_hooks_setting().errors
        if errors:
            # Word for word what start-up's ImproperlyConfigured says (a test pins it).
            raise CommandError(invalid_settings_message(errors))
        events = self._selected(options["events"])
        rows = event_rows(events)
        if options["as_json"]:
            self.stdout.write(json.dumps(rows, indent=2))
        else:
            self.stdout.write(_as_table(rows))
        # Listed receivers get nothing if regstack is not configured (or cannot be built):
        # say so, in the words of manage.py check, instead of looking wired.
        from regstack_django.hosting import instance

        for found in [*instance.problems(), *instance.wiring_problems()]:
            self.stderr.write(as_text(found))

    def _selected(self, names: list[str]) -> list[str]:
        if not names:
            return _listed_events()
        available = KNOWN_EVENTS | custom_events()
        for name in names:
            if name not in available:
                close = difflib.get_close_matches(name, sorted(available), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise CommandError(f"Unknown regstack event {name!r}.{hint}")
        return list(dict.fromkeys(names))
