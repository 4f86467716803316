"""Retention: the rows older than ``REGSTACK_AUDIT_RETENTION`` days, deleted in batches."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from regstack_django.audit.models import AuthEvent

BATCH = 5000


def expired(days: int, now: datetime.datetime | None = None) -> QuerySet[AuthEvent]:
    """Return the rows created more than ``days`` days before ``now``."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    return AuthEvent.objects.filter(created_at__lt=cutoff)


def prune(days: int, now: datetime.datetime | None = None, batch: int = BATCH) -> int:
    """Delete the rows older than ``days`` days, ``batch`` at a time; return how many went."""
    now = now or timezone.now()  # fixed once: rows written meanwhile are never in scope
    deleted = 0
    while ids := list(expired(days, now).order_by("pk").values_list("pk", flat=True)[:batch]):
        deleted += AuthEvent.objects.filter(pk__in=ids).delete()[0]
    return deleted
