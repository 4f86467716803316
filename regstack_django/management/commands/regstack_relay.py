"""``manage.py regstack_relay``: hand durable background events from the outbox to Tasks.

SIGTERM or SIGINT lets the row in hand finish, then exits 0; docs/background-delivery.md.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from regstack_django.background import health, relay
from regstack_django.conf import OUTBOX_POLL_INTERVAL_SETTING, OUTBOX_STALE_AFTER_SETTING, conf

PRUNE_EVERY = 60.0
#: Seconds between two heartbeats, at most (a third of REGSTACK_OUTBOX_STALE_AFTER if shorter).
BEAT_EVERY = 10.0


class Command(BaseCommand):
    help = "Hand durable background events from the outbox to the Tasks backend."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Hand out what is due now, then exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help=f"Seconds between passes (default: {OUTBOX_POLL_INTERVAL_SETTING}).",
        )

    def handle(
        self, *args: Any, once: bool = False, interval: float | None = None, **options: Any
    ) -> None:
        if once:
            try:
                result = relay.drain()
            except DatabaseError as exc:
                raise CommandError(
                    f"The outbox cannot be read ({type(exc).__name__}: {exc}). "
                    "Has 'manage.py migrate' created its table?"
                ) from exc
            self.stdout.write(
                f"regstack relay: {result.handed_out} handed out, {result.refused} refused "
                f"by the broker, {result.dead} dead."
            )
            return
        stopping = threading.Event()

        def stop(number: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        pause = (
            interval if interval and interval > 0 else conf.seconds(OUTBOX_POLL_INTERVAL_SETTING)
        )
        self.stdout.write(f"regstack relay: running, a pass every {pause:g}s.")
        self.stdout.flush()
        pruned_at = beat_at = 0.0
        handed_out = 0
        while not stopping.is_set():
            close_old_connections()
            try:
                result = relay.relay_pass(stop=stopping.is_set)
                handed_out += result.handed_out
                beat_every = min(BEAT_EVERY, conf.seconds(OUTBOX_STALE_AFTER_SETTING) / 3)
                if time.monotonic() - beat_at > beat_every:
                    health.beat(handed_out)
                    beat_at, handed_out = time.monotonic(), 0
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    relay.prune()
                    pruned_at = time.monotonic()
            except Exception as exc:  # the database went away: say so, try again
                self.stderr.write(f"regstack relay: pass failed ({type(exc).__name__}: {exc}).")
                result = relay.PassResult()
            if result.due < relay.BATCH:
                stopping.wait(pause)
        self.stdout.write("regstack relay: stopped.")
