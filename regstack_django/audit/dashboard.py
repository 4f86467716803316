"""The dashboard's figures: events per hour (last day, last week), failures, the outbox.

All counted in the database (``TruncHour``, ``Count``); :mod:`.chart` draws them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from regstack_django.audit.models import LOGIN_FAILED, RECEIVER_FAILED, AuthEvent

#: The stacked series of a chart, bottom first.
KINDS = ("events", "failed sign-ins", "receiver failures")
TOP = 10


def kind_of(event: str) -> str:
    """Return the chart series ``event`` is counted in."""
    return {LOGIN_FAILED: KINDS[1], RECEIVER_FAILED: KINDS[2]}.get(event, KINDS[0])


@dataclass
class Hour:
    """One bar: the hour it starts at and its count per kind."""

    start: datetime.datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def per_hour(hours: int, now: datetime.datetime | None = None) -> list[Hour]:
    """Return ``hours`` bars, oldest first, the last one the current hour."""
    now = now or timezone.now()
    last = now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    first = last - datetime.timedelta(hours=hours - 1)
    bars = {
        first + datetime.timedelta(hours=i): Hour(first + datetime.timedelta(hours=i))
        for i in range(hours)
    }
    rows = (
        AuthEvent.objects.filter(created_at__gte=first)
        .annotate(hour=TruncHour("created_at", tzinfo=datetime.UTC))
        .values("hour", "event")
        .annotate(n=Count("id"))
    )
    for row in rows:
        bar = bars.get(row["hour"])
        if bar is not None:
            bar.counts[kind_of(row["event"])] += row["n"]
    return list(bars.values())


def by_event(since: datetime.datetime) -> list[tuple[str, int]]:
    """Return ``(event, count)`` since ``since``, the most frequent first."""
    rows = (
        AuthEvent.objects.filter(created_at__gte=since)
        .values("event")
        .annotate(n=Count("id"))
        .order_by("-n", "event")
    )
    return [(row["event"], row["n"]) for row in rows]


def failed_sign_ins(since: datetime.datetime) -> dict[str, list[tuple[str, int]]]:
    """Return failed sign-ins since ``since``: by reason, by IP address and by e-mail (top 10)."""
    failed = AuthEvent.objects.filter(event=LOGIN_FAILED, created_at__gte=since)

    def top(field: str) -> list[tuple[str, int]]:
        rows = failed.values(field).annotate(n=Count("id")).order_by("-n", field)[:TOP]
        return [(str(row[field] or "-"), row["n"]) for row in rows]

    return {
        "reason": top("details__reason"),
        "IP address": top("client_ip"),
        "e-mail": top("email"),
    }


def receiver_failures(since: datetime.datetime) -> list[tuple[str, str, str, int]]:
    """Return ``(receiver, event, error type, count)`` since ``since``, the most frequent first."""
    rows = (
        AuthEvent.objects.filter(event=RECEIVER_FAILED, created_at__gte=since)
        .values("details__receiver", "details__event", "details__error")
        .annotate(n=Count("id"))
        .order_by("-n")[:TOP]
    )
    return [
        (
            str(row["details__receiver"]),
            str(row["details__event"]),
            str(row["details__error"]),
            row["n"],
        )
        for row in rows
    ]


def outbox() -> dict[str, Any] | None:
    """Return the outbox's health when durable entries exist (configured or stored), else None."""
    from regstack_django.background import health
    from regstack_django.models import OutboxEvent

    if not health.durable_entries_configured() and not OutboxEvent.objects.exists():
        return None
    now = timezone.now()
    report = health.health(now)
    waiting = health.undelivered()
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "pending": waiting.count(),
        "dead": health.dead().count(),
        "delivered": OutboxEvent.objects.filter(~Q(delivered_at=None)).count(),
        "oldest_age": None if oldest is None else int((now - oldest).total_seconds()),
        "problems": report.problems,
        "notes": report.notes,
    }
