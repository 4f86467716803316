"""Row operations on the outbox table, for the fire, the worker and the relay.

Small and synchronous: the fire writes in the caller's transaction; all of it uses ``default``.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from regstack_django.conf import (
    OUTBOX_BACKOFF_MAX_SETTING,
    OUTBOX_BACKOFF_SETTING,
    OUTBOX_LEASE_SETTING,
    conf,
)
from regstack_django.failures import REDACTED, logger, redactor
from regstack_django.models import OutboxEvent

#: ``last_error`` keeps this many characters.
ERROR_LENGTH = 1000


def write(event: str, handler: str, event_id: str, message: str) -> None:
    """Insert one due row (in the caller's transaction, if it has one)."""
    OutboxEvent.objects.create(
        event_id=uuid.UUID(event_id), event=event, handler=handler, message=message
    )


def begin_delivery(event_id: uuid.UUID, handler: str) -> bool:
    """Return whether to run this delivery (its row is there, undelivered); restart its lease.

    The lease counts from the start of the run, so a handler that starts late
    (a lagging queue) is not handed out again while it runs.
    """
    lease = datetime.timedelta(seconds=conf.seconds(OUTBOX_LEASE_SETTING))
    started = OutboxEvent.objects.filter(
        event_id=event_id, handler=handler, delivered_at__isnull=True
    ).update(available_at=timezone.now() + lease)
    return started > 0


def mark_delivered(event_id: uuid.UUID, handler: str) -> None:
    """Mark the row delivered and clear its last error."""
    OutboxEvent.objects.filter(event_id=event_id, handler=handler).update(
        delivered_at=timezone.now(), last_error=""
    )


def retry(rows: QuerySet[OutboxEvent]) -> int:
    """Make undelivered ``rows`` due now, dead ones too, with fresh counts; return how many."""
    return rows.filter(delivered_at__isnull=True).update(
        available_at=timezone.now(), dead_at=None, failures=0, refusals=0
    )


def backoff(attempts: int) -> datetime.timedelta:
    """Return the wait before try ``attempts + 1``: doubling from the first delay, capped."""
    first = conf.seconds(OUTBOX_BACKOFF_SETTING)
    cap = conf.seconds(OUTBOX_BACKOFF_MAX_SETTING)
    return datetime.timedelta(seconds=min(cap, first * 2 ** min(max(attempts - 1, 0), 32)))


def record_failure(
    event_id: uuid.UUID, handler: str, exc: BaseException, arguments: Mapping[str, Any]
) -> None:
    """Keep a handler's failure on the row (redacted): due after the backoff, or dead at the max."""
    row = OutboxEvent.objects.filter(event_id=event_id, handler=handler).first()
    if row is None:
        return
    failures = row.failures + 1
    now = timezone.now()
    changes: dict[str, Any] = {"last_error": safe_error(exc, arguments), "failures": failures}
    if failures >= conf.max_attempts():
        changes["dead_at"] = now
    else:
        changes["available_at"] = now + backoff(failures)
    OutboxEvent.objects.filter(pk=row.pk, delivered_at__isnull=True).update(**changes)


def mark_dead(rows: QuerySet[OutboxEvent], exc: BaseException) -> int:
    """Give up the undelivered ``rows`` at once (they can never succeed), keeping why."""
    return rows.filter(delivered_at__isnull=True, dead_at__isnull=True).update(
        dead_at=timezone.now(), last_error=safe_error(exc)
    )


def mark_dead_message(message: str, exc: BaseException) -> int:
    """Give up the row whose stored message is exactly ``message`` (a worker refused it).

    Best effort: a database error here is logged, and the refusal itself still fails the task.
    """
    try:
        return mark_dead(OutboxEvent.objects.filter(message=message), exc)
    except Exception as error:
        logger.warning(
            "regstack worker: could not mark the refused message's outbox row dead (%s).",
            type(error).__name__,
        )
        return 0


def safe_error(exc: BaseException, arguments: Mapping[str, Any] | None = None) -> str:
    """Return ``module.Type: message`` with every argument value of the event redacted.

    The fire's secrets first, in every form the log redacts them in (one redaction).
    """
    text = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
    redact_secrets = redactor(arguments or {})
    if redact_secrets is not None:
        text = redact_secrets(text)
    for value in sorted(_values(arguments or {}), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text[:ERROR_LENGTH]


def _values(value: object) -> set[str]:
    """Return every string (and number) inside the arguments, as text, worth redacting."""
    if isinstance(value, Mapping):
        return set().union(*(_values(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_values(v) for v in value)) if value else set()
    if hasattr(value, "as_dict"):
        return _values(value.as_dict())
    if isinstance(value, bool) or value is None:
        return set()
    text = str(value)
    return {text} if len(text) >= 3 else set()
