"""``manage.py regstack_hooks``: which receiver runs on which regstack event, and how.

The rows come from :mod:`regstack_django.hooks.introspect`; docs/commands.md.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from regstack_django.checks.messages import as_text
from regstack_django.checks.registered import regstack_problems, settings_errors
from regstack_django.events import HOOKABLE_EVENTS
from regstack_django.hooks.introspect import EventRow, event_rows, listed_events
from regstack_django.hooks.wiring import invalid_settings_message
from regstack_django.signals import custom_events


def _as_table(rows: list[EventRow]) -> str:
    header = ("EVENT", "RECEIVER", "KIND", "DELIVERY", "SOURCE", "OPTIONS")
    lines: list[tuple[str, ...]] = []
    for row in rows:
        if not row["receivers"]:
            lines.append((row["event"], "-", "", "", "", ""))
        for index, r in enumerate(row["receivers"]):
            event = row["event"] if index == 0 else ""
            options = " ".join(f"{k}={v}" for k, v in r["options"].items())
            lines.append((event, r["name"], r["kind"], r["delivery"], r["source"], options))
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
        "inline/background/durable, whether it comes from settings, @receiver or "
        "registry.on, and a settings entry's options."
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
            help="Print JSON: a list of {event, receivers: [{name, kind, delivery, source, "
            "options}]}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        errors = settings_errors()
        if errors:
            # Word for word what start-up's ImproperlyConfigured says (a test pins it).
            raise CommandError(invalid_settings_message(errors))
        events = self._selected(options["events"])
        rows = event_rows(events)
        if options["as_json"]:
            self.stdout.write(json.dumps(rows, indent=2))
        else:
            self.stdout.write(_as_table(rows))
        # Listed receivers get nothing if regstack is not configured (or cannot be built).
        for found in regstack_problems():
            self.stderr.write(as_text(found))

    def _selected(self, names: list[str]) -> list[str]:
        if not names:
            return listed_events()
        available = HOOKABLE_EVENTS | custom_events()
        for name in names:
            if name not in available:
                close = difflib.get_close_matches(name, sorted(available), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise CommandError(f"Unknown regstack event {name!r}.{hint}")
        return list(dict.fromkeys(names))
