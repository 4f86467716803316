"""The bridge's metrics: fires, receiver failures, timeouts, skips, durations, outbox gauges.

Instruments come from OpenTelemetry's global meter provider; without an SDK they record nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Final

from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.utils import timezone
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from regstack_django.failures import ReceiverTimeout, WorkerUnavailable
from regstack_django.models import OutboxEvent

logger = logging.getLogger("regstack_django")

meter = metrics.get_meter("regstack_django")

fires = meter.create_counter(
    "regstack.fires", unit="{fire}", description="Fires that reached at least one receiver."
)
failures = meter.create_counter(
    "regstack.receiver.failures",
    unit="{failure}",
    description="Receivers that raised, timed out or were skipped (each reported once).",
)
timeouts = meter.create_counter(
    "regstack.receiver.timeouts", unit="{timeout}", description="Receivers past their timeout."
)
skipped = meter.create_counter(
    "regstack.receiver.skipped",
    unit="{receiver}",
    description="Receivers that did not run: no worker was free for REGSTACK_HOOKS_WORKER_WAIT.",
)
duration = meter.create_histogram(
    "regstack.receiver.duration", unit="s", description="How long each receiver ran."
)

#: What a failure counts as: its ``regstack.outcome`` attribute.
ERROR: Final = "error"
TIMEOUT: Final = "timeout"
SKIPPED: Final = "skipped"


def outcome_of(exc: BaseException) -> str:
    """Return ``"skipped"``, ``"timeout"`` or ``"error"`` for a receiver's failure."""
    if isinstance(exc, WorkerUnavailable):
        return SKIPPED
    if isinstance(exc, ReceiverTimeout):
        return TIMEOUT
    return ERROR


def count_failure(event: str, receiver: str, outcome: str) -> None:
    """Count one reported failure, and its timeout or skip."""
    attributes = {"regstack.event": event, "regstack.receiver": receiver}
    failures.add(1, {**attributes, "regstack.outcome": outcome})
    if outcome == TIMEOUT:
        timeouts.add(1, attributes)
    elif outcome == SKIPPED:
        skipped.add(1, attributes)


_gauges: list[object] = []


def observe_outbox() -> None:
    """Register the outbox gauges once: pending rows, dead rows, the oldest pending row's age."""
    if _gauges:
        return
    for name, unit, description, callback in (
        ("regstack.outbox.pending", "{row}", "Outbox rows waiting for a delivery.", _pending),
        ("regstack.outbox.dead", "{row}", "Outbox rows given up (dead).", _dead),
        ("regstack.outbox.oldest_age", "s", "Age of the oldest pending outbox row.", _oldest),
    ):
        _gauges.append(
            meter.create_observable_gauge(
                name, callbacks=[_safely(callback)], unit=unit, description=description
            )
        )


def _safely(
    read: Callable[[], float | None],
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """Wrap a database read: no observation (and one DEBUG line) when the database fails."""

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        try:
            value = read()
        except DatabaseError:
            logger.debug("regstack outbox gauges: the database could not be read.", exc_info=True)
            return []
        finally:
            if not connection.in_atomic_block:  # a metrics thread's own connection
                connection.close()
        return [] if value is None else [Observation(value)]

    return callback


# The rows background/health.py counts (not imported: it reaches the worker, which reaches us).
def _undelivered() -> QuerySet[OutboxEvent]:
    return OutboxEvent.objects.filter(delivered_at__isnull=True, dead_at__isnull=True)


def _pending() -> float | None:
    return _undelivered().count()


def _dead() -> float | None:
    return OutboxEvent.objects.filter(delivered_at__isnull=True, dead_at__isnull=False).count()


def _oldest() -> float | None:
    first = _undelivered().order_by("created_at").values_list("created_at", flat=True)[:1]
    for created in first:
        return max((timezone.now() - created).total_seconds(), 0.0)
    return 0.0
