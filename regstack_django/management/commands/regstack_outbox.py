"""``manage.py regstack_outbox``: list, check, retry and purge the durable outbox.

``--check`` exits 1 when rows are overdue or no relay was seen (docs/background-delivery.md).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet
from django.utils import timezone

from regstack_django.background import health
from regstack_django.background.outbox import retry
from regstack_django.models import OutboxEvent

STATUSES = ("pending", "dead", "stale", "all")
LIST_LIMIT = 50


class Command(BaseCommand):
    help = "List, check, retry and purge durable background events in the outbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit 1 when rows are overdue or no relay was seen for "
            "REGSTACK_OUTBOX_STALE_AFTER (a liveness probe or cron).",
        )
        parser.add_argument(
            "--status", choices=STATUSES, default=None, help="List rows of one status."
        )
        parser.add_argument(
            "--retry", type=int, nargs="+", metavar="ID", help="Make these rows due now."
        )
        parser.add_argument(
            "--retry-dead", action="store_true", help="Make every dead row due now."
        )
        parser.add_argument(
            "--purge",
            type=float,
            metavar="DAYS",
            help="Delete delivered and dead rows older than DAYS.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="With --purge: count, delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"] and options["purge"] is None:
            raise CommandError("--dry-run goes with --purge.")
        if options["retry"] or options["retry_dead"]:
            self._retry(options["retry"] or [], options["retry_dead"])
        if options["purge"] is not None:
            self._purge(options["purge"], options["dry_run"])
        if options["check"]:
            self._check()
        elif options["status"] or not (
            options["retry"] or options["retry_dead"] or options["purge"]
        ):
            self._list(options["status"])

    def _retry(self, ids: list[int], all_dead: bool) -> None:
        rows = OutboxEvent.objects.filter(delivered_at__isnull=True)
        rows = (
            rows.filter(Q(pk__in=ids) | Q(dead_at__isnull=False))
            if all_dead
            else rows.filter(pk__in=ids)
        )
        count = retry(rows)
        self.stdout.write(f"regstack outbox: {count} row(s) due now.")

    def _purge(self, days: float, dry_run: bool) -> None:
        if days < 0:
            raise CommandError("--purge takes a number of days, 0 or more.")
        cutoff = timezone.now() - datetime.timedelta(days=days)
        rows = OutboxEvent.objects.filter(
            Q(delivered_at__lt=cutoff) | Q(delivered_at__isnull=True, dead_at__lt=cutoff)
        )
        if dry_run:
            self.stdout.write(f"regstack outbox: {rows.count()} row(s) would be deleted.")
            return
        deleted, _ = rows.delete()
        self.stdout.write(f"regstack outbox: {deleted} row(s) deleted.")

    def _check(self) -> None:
        report = health.health()
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        if report.problems:
            raise CommandError("\n".join(report.problems), returncode=1)
        self.stdout.write("regstack outbox: OK (a relay was seen, nothing overdue).")

    def _list(self, status: str | None) -> None:
        now = timezone.now()
        counts = {
            "pending": health.undelivered().count(),
            "stale": health.overdue(now).count(),
            "dead": health.dead().count(),
            "delivered": OutboxEvent.objects.filter(delivered_at__isnull=False).count(),
        }
        self.stdout.write("regstack outbox: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for name in (status,) if status else ("dead", "stale"):
            self._table(name, _rows(name, now), now)

    def _table(self, name: str, rows: QuerySet[OutboxEvent], now: datetime.datetime) -> None:
        shown = list(rows.order_by("available_at", "id")[:LIST_LIMIT])
        if not shown:
            return
        self.stdout.write(f"\n{name}:")
        for row in shown:
            due = (
                "-"
                if row.status(now) in {"delivered", "dead"}
                else f"{row.available_at:%Y-%m-%d %H:%M:%S}"
            )
            self.stdout.write(
                f"  #{row.pk} {row.status(now)} {row.event} -> {row.handler} "
                f"runs failed {row.failures}, handed out {row.attempts}, due {due}"
            )
            if row.last_error:
                self.stdout.write(f"      {row.last_error[:200]}")
        if rows.count() > LIST_LIMIT:
            self.stdout.write(f"  ... and {rows.count() - LIST_LIMIT} more")


def _rows(status: str, now: datetime.datetime) -> QuerySet[OutboxEvent]:
    """Return the rows of one ``--status``."""
    if status == "pending":
        return health.undelivered()
    if status == "dead":
        return health.dead()
    if status == "stale":
        return health.overdue(now)
    return OutboxEvent.objects.all()
