"""The relay: hand due outbox rows to their Tasks backend, lease them, redeliver.

docs/background.md ("Durable delivery") gives the algorithm: claim, lease, enqueue, backoff, prune.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.utils import timezone

from regstack_django.background import health, outbox
from regstack_django.background.enqueue import task_with_options
from regstack_django.background.tasks_compat import TASK_OPTIONS
from regstack_django.conf import OUTBOX_LEASE_SETTING, OUTBOX_RETENTION_SETTING, conf
from regstack_django.envelope import UntrustedMessage, open_envelope
from regstack_django.failures import logger
from regstack_django.models import OutboxEvent, RelayHeartbeat
from regstack_django.worker import background_entries

BATCH = 100


@dataclass
class PassResult:
    """What one pass did: rows due, handed out, refused by the broker, given up as dead."""

    handed_out: int = 0
    refused: int = 0
    dead: int = 0
    due: int = 0

    def __iadd__(self, other: PassResult) -> PassResult:
        self.handed_out += other.handed_out
        self.refused += other.refused
        self.dead += other.dead
        self.due += other.due
        return self


def _task_for(event: str, handler: str) -> Any:
    spec = background_entries().get((event, handler))
    if spec is None or not spec.background:
        raise UntrustedMessage(
            f"{handler!r} is no longer a background handler of {event!r} in REGSTACK_HOOKS."
        )
    return task_with_options({name: getattr(spec, name) for name in TASK_OPTIONS})


#: The lease doubles with each hand-out, up to this many times the setting.
LEASE_GROWTH_CAP = 32


def lease_for(lease: float, attempts: int) -> datetime.timedelta:
    """Return the lease of hand-out ``attempts + 1``: ``lease``, then doubling, capped.

    ``attempts`` counts accepted hand-outs only, so a broker outage does not lengthen it.
    A worker outage of *n* leases re-enqueues a row about log2 *n* times, not *n*.
    """
    return datetime.timedelta(seconds=lease * min(2**attempts, LEASE_GROWTH_CAP))


def relay_pass(batch: int = BATCH, stop: Any = None) -> PassResult:
    """Claim up to ``batch`` due rows and enqueue each; back off refusals, bury the untrusted."""
    now = timezone.now()
    lease = conf.seconds(OUTBOX_LEASE_SETTING)
    rows = list(
        OutboxEvent.objects.filter(
            delivered_at__isnull=True, dead_at__isnull=True, available_at__lte=now
        )
        .order_by("available_at", "id")
        .only("id", "event", "handler", "message", "available_at", "attempts", "refusals")[:batch]
    )
    result = PassResult(due=len(rows))
    for row in rows:
        if stop is not None and stop():
            break
        claimed = OutboxEvent.objects.filter(
            pk=row.pk,
            delivered_at__isnull=True,
            dead_at__isnull=True,
            available_at=row.available_at,
        ).update(available_at=now + lease_for(lease, row.attempts))
        if claimed:
            _hand_out(row, result)
    if result.due:
        logger.info(
            "regstack relay: %d due, %d handed out, %d refused by the broker, %d dead.",
            result.due,
            result.handed_out,
            result.refused,
            result.dead,
        )
    return result


def _hand_out(row: OutboxEvent, result: PassResult) -> None:
    """Enqueue one claimed row; only an accepted hand-out counts towards its lease."""
    this_row = OutboxEvent.objects.filter(pk=row.pk)
    try:
        open_envelope(row.message)
        task = _task_for(row.event, row.handler)
    except UntrustedMessage as exc:  # it can never succeed: no retry, no lease
        result.dead += outbox.mark_dead(this_row, exc)
        logger.warning(
            "regstack relay: the outbox row %d (%s for %r) is dead: %s",
            row.pk,
            row.handler,
            row.event,
            type(exc).__name__,
        )
        return
    try:
        queued = task.enqueue(row.message)
    except Exception as exc:
        result.refused += 1
        this_row.filter(delivered_at__isnull=True).update(
            available_at=timezone.now() + outbox.backoff(row.refusals + 1),
            refusals=F("refusals") + 1,
            last_error=outbox.safe_error(exc),
        )
        logger.warning(
            "regstack relay: handing %s for %r to its Tasks backend failed "
            "(refusal %d in a row, %s); retrying after a backoff.",
            row.handler,
            row.event,
            row.refusals + 1,
            type(exc).__name__,
        )
    else:
        result.handed_out += 1
        task_id = str(getattr(queued, "id", ""))[:64]
        this_row.update(attempts=F("attempts") + 1, refusals=0, task_id=task_id)


def prune() -> int:
    """Delete delivered rows (and relay heartbeats) older than the retention; return rows."""
    cutoff = timezone.now() - datetime.timedelta(seconds=conf.seconds(OUTBOX_RETENTION_SETTING))
    deleted, _ = OutboxEvent.objects.filter(delivered_at__lt=cutoff).delete()
    RelayHeartbeat.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


def drain(max_passes: int = 1000) -> PassResult:
    """Hand out everything due now (``--once``), pass after pass, then prune."""
    total = PassResult()
    for _ in range(max_passes):
        result = relay_pass()
        total += result
        if result.due < BATCH:
            break
    health.beat(total.handed_out)
    prune()
    return total
