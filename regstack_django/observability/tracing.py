"""Spans around one fire and each of its receivers; failures as events, never a value.

Imported only when :data:`.switch.on` is set: OpenTelemetry is an optional extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry.trace import Span, Status, StatusCode

from regstack_django.failures import NAME_ATTRIBUTE, receiver_name
from regstack_django.hooks import dispatch
from regstack_django.hooks.dispatch import Fire, LiveReceivers, Receiver
from regstack_django.hooks.timeouts import TIMEOUT_ATTRIBUTE
from regstack_django.observability import meters
from regstack_django.observability.spans import receiver_span, span_attributes, tracer, type_name
from regstack_django.pool.overflow import MUST_RUN_ATTRIBUTE

#: What the dispatch loop reads on a receiver; a traced receiver keeps them.
_KEPT: Final = (TIMEOUT_ATTRIBUTE, MUST_RUN_ATTRIBUTE)


async def dispatch_async(fire: Fire, receivers: LiveReceivers) -> None:
    """Run :func:`regstack_django.hooks.dispatch.dispatch_async` inside the fire's span."""
    with _fire_span(fire, receivers) as span:
        await dispatch.dispatch_async(fire, _traced(fire.event, receivers))
        _finish(span, fire)


def dispatch_sync(fire: Fire, receivers: LiveReceivers) -> None:
    """Run :func:`regstack_django.hooks.dispatch.dispatch_sync` inside the fire's span."""
    with _fire_span(fire, receivers) as span:
        dispatch.dispatch_sync(fire, _traced(fire.event, receivers))
        _finish(span, fire)


@contextmanager
def _fire_span(fire: Fire, receivers: LiveReceivers) -> Iterator[Span]:
    attributes: dict[str, str | int] = {
        "regstack.event": fire.event,
        "regstack.receivers": len(receivers[0]) + len(receivers[1]),
    }
    with tracer.start_as_current_span(
        f"regstack.fire {fire.event}", attributes=attributes, record_exception=False
    ) as span:
        yield span


def _finish(span: Span, fire: Fire) -> None:
    """Count the fire and its failures; mark the span failed if a receiver failed."""
    meters.fires.add(1, {"regstack.event": fire.event})
    if not fire.failures:
        return
    for failure in fire.failures:
        outcome = meters.outcome_of(failure.exception)
        meters.count_failure(failure.event, failure.receiver, outcome)
        span.add_event(
            "regstack.receiver_failed",
            {
                "regstack.receiver": failure.receiver,
                "regstack.outcome": outcome,
                "error.type": type_name(failure.exception),
            },
        )
    span.set_attribute("regstack.failures", len(fire.failures))
    span.set_status(Status(StatusCode.ERROR, f"{len(fire.failures)} receiver(s) failed"))


def _traced(event: str, receivers: LiveReceivers) -> LiveReceivers:
    sync_receivers, async_receivers = receivers
    return (
        [_traced_sync(event, r) for r in sync_receivers],
        [_traced_async(event, r) for r in async_receivers],
    )


def _traced_sync(event: str, receiver: Receiver) -> Receiver:
    name = receiver_name(receiver)
    attributes = span_attributes(event, name, "sync")

    def traced(**named: Any) -> None:
        with receiver_span(f"regstack.receiver {name}", attributes) as ended:
            try:
                receiver(**named)
            except BaseException as exc:
                ended(exc)
                raise

    return _keep_marks(traced, receiver, name)


def _traced_async(event: str, receiver: Receiver) -> Receiver:
    name = receiver_name(receiver)
    attributes = span_attributes(event, name, "async")

    async def traced(**named: Any) -> None:
        with receiver_span(f"regstack.receiver {name}", attributes) as ended:
            try:
                await receiver(**named)
            except BaseException as exc:
                ended(exc)
                raise

    return _keep_marks(traced, receiver, name)


def _keep_marks(traced: Receiver, receiver: Receiver, name: str) -> Receiver:
    setattr(traced, NAME_ATTRIBUTE, name)
    for attribute in _KEPT:
        if hasattr(receiver, attribute):
            setattr(traced, attribute, getattr(receiver, attribute))
    return traced
