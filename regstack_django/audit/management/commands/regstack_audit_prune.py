"""``manage.py regstack_audit_prune``: delete audit rows older than the retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from regstack_django.audit import prune
from regstack_django.conf import (
    AUDIT_RETENTION_SETTING,
    MAX_AUDIT_RETENTION,
    conf,
    valid_audit_retention,
)


class Command(BaseCommand):
    help = (
        f"Delete AuthEvent rows older than {AUDIT_RETENTION_SETTING} days (default 90); "
        "--dry-run only counts them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument("--days", type=int, help="keep this many days instead of the setting")

    def handle(self, *args: Any, dry_run: bool, days: int | None, **options: Any) -> None:
        if days is not None and not valid_audit_retention(days):
            raise CommandError(f"--days must be from 1 to {MAX_AUDIT_RETENTION}, not {days}.")
        keep = days if days is not None else conf.audit_retention()
        if keep is None:
            self.stdout.write(f"{AUDIT_RETENTION_SETTING} is None: every row is kept.")
            return
        if dry_run:
            count = prune.expired(keep).count()
            self.stdout.write(f"{count} audit row(s) older than {keep} days would be deleted.")
            return
        count = prune.prune(keep)
        self.stdout.write(f"Deleted {count} audit row(s) older than {keep} days.")
