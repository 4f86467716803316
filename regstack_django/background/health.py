"""Is the outbox moving: relay heartbeats, overdue and dead rows, and the warnings they give.

``manage.py regstack_outbox --check`` and the admin changelist say the same words.
"""

from __future__ import annotations

import datetime
import os
import socket
from dataclasses import dataclass, field
from functools import cache

from django.db.models import F, QuerySet
from django.utils import timezone

from regstack_django.conf import OUTBOX_STALE_AFTER_SETTING, conf
from regstack_django.models import OutboxEvent, RelayHeartbeat


@cache
def relay_name() -> str:
    """Return this process's heartbeat name: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def beat(handed_out: int = 0) -> None:
    """Record that this relay finished a pass (and how many rows it handed out)."""
    now = timezone.now()
    updated = RelayHeartbeat.objects.filter(relay=relay_name()).update(
        seen_at=now, handed_out=F("handed_out") + handed_out
    )
    if not updated:
        RelayHeartbeat.objects.get_or_create(
            relay=relay_name(), defaults={"seen_at": now, "handed_out": handed_out}
        )


def stale_after() -> datetime.timedelta:
    """Return ``REGSTACK_OUTBOX_STALE_AFTER`` as a timedelta."""
    return datetime.timedelta(seconds=conf.seconds(OUTBOX_STALE_AFTER_SETTING))


def undelivered() -> QuerySet[OutboxEvent]:
    """Return the rows that still wait for a delivery (not delivered, not dead)."""
    return OutboxEvent.objects.filter(delivered_at__isnull=True, dead_at__isnull=True)


def overdue(now: datetime.datetime | None = None) -> QuerySet[OutboxEvent]:
    """Return the rows due for longer than ``REGSTACK_OUTBOX_STALE_AFTER`` (no relay took them)."""
    return undelivered().filter(available_at__lt=(now or timezone.now()) - stale_after())


def dead() -> QuerySet[OutboxEvent]:
    """Return the rows given up: never handed out again until retried."""
    return OutboxEvent.objects.filter(delivered_at__isnull=True, dead_at__isnull=False)


def durable_entries_configured() -> bool:
    """Return whether ``REGSTACK_HOOKS`` has a durable background entry."""
    from regstack_django.worker import background_entries

    return any(spec.durable for spec in background_entries().values())


@dataclass
class Health:
    """What ``--check`` and the admin report: problems make the check fail."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def health(now: datetime.datetime | None = None) -> Health:
    """Return the outbox's problems (overdue rows, no relay seen) and notes (dead rows)."""
    now = now or timezone.now()
    limit = conf.seconds(OUTBOX_STALE_AFTER_SETTING)
    report = Health()
    late = overdue(now).count()
    if late:
        report.problems.append(
            f"{late} outbox row(s) have been due for more than {limit:g}s: no relay is "
            "handing them out (is 'manage.py regstack_relay' running?)."
        )
    latest = RelayHeartbeat.objects.order_by("-seen_at").first()
    needed = late or undelivered().exists() or durable_entries_configured()
    if needed and (latest is None or latest.seen_at < now - stale_after()):
        seen = "never" if latest is None else f"last at {latest.seen_at:%Y-%m-%d %H:%M:%S %Z}"
        report.problems.append(
            f"No relay has been seen for {limit:g}s ({seen}): durable events wait in the "
            "outbox. Run 'manage.py regstack_relay' next to the Tasks worker."
        )
    buried = dead().count()
    if buried:
        report.notes.append(
            f"{buried} outbox row(s) are dead (refused, or failed REGSTACK_OUTBOX_MAX_ATTEMPTS "
            "times): see 'manage.py regstack_outbox --status dead', retry with --retry-dead."
        )
    return report
