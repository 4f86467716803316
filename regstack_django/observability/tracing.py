"""Spans around one fire, each of its receivers, and a background delivery; never a value.

Imported only when :data:`.switch.on` is set: OpenTelemetry is an optional extra.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from regstack_django.failures import NAME_ATTRIBUTE, receiver_name
from regstack_django.hooks import dispatch
from regstack_django.hooks.dispatch import Fire, LiveReceivers, Receiver
from regstack_django.hooks.timeouts import TIMEOUT_ATTRIBUTE
from regstack_django.observability import meters
from regstack_django.pool.overflow import MUST_RUN_ATTRIBUTE

tracer = trace.get_tracer("regstack_django")

#: W3C trace context only: baggage (which may hold anything) never crosses the queue.
_propagator: Final = TraceContextTextMapPropagator()

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
                "error.type": _type_name(failure.exception),
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


def _span_attributes(event: str, name: str, mode: str) -> dict[str, str]:
    return {"regstack.event": event, "regstack.receiver": name, "regstack.mode": mode}


def _traced_sync(event: str, receiver: Receiver) -> Receiver:
    name = receiver_name(receiver)
    attributes = _span_attributes(event, name, "sync")

    def traced(**named: Any) -> None:
        with _receiver_span(f"regstack.receiver {name}", attributes) as ended:
            try:
                receiver(**named)
            except BaseException as exc:
                ended(exc)
                raise

    return _keep_marks(traced, receiver, name)


def _traced_async(event: str, receiver: Receiver) -> Receiver:
    name = receiver_name(receiver)
    attributes = _span_attributes(event, name, "async")

    async def traced(**named: Any) -> None:
        with _receiver_span(f"regstack.receiver {name}", attributes) as ended:
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


@contextmanager
def _receiver_span(
    span_name: str,
    attributes: dict[str, str],
    parent: Any = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Callable[[BaseException], None]]:
    """One receiver's span; the caller reports its exception through the yielded function."""
    failed: list[BaseException] = []
    started = time.perf_counter()
    with tracer.start_as_current_span(
        span_name,
        context=parent,
        kind=kind,
        attributes=attributes,
        record_exception=False,  # an exception's text may quote an argument
        set_status_on_exception=False,
    ) as span:
        try:
            yield failed.append
        finally:
            outcome = meters.outcome_of(failed[0]) if failed else "ok"
            span.set_attribute("regstack.outcome", outcome)
            if failed:
                span.set_attribute("error.type", _type_name(failed[0]))
                span.set_status(Status(StatusCode.ERROR, outcome))
            took = time.perf_counter() - started
            meters.duration.record(took, {**attributes, "regstack.outcome": outcome})


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def carrier() -> dict[str, str]:
    """Return the current trace context as W3C headers, for a background message."""
    found: dict[str, str] = {}
    _propagator.inject(found)
    return found


@contextmanager
def delivery_span(
    event: str, handler: str, carried: object
) -> Iterator[Callable[[BaseException], None]]:
    """The worker's span for one background handler, in the trace of the fire that queued it."""
    parent = None
    if isinstance(carried, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in carried.items()
    ):
        parent = _propagator.extract(carried)
    attributes = _span_attributes(event, handler, "background")
    span_name = f"regstack.deliver {handler}"
    with _receiver_span(span_name, attributes, parent, SpanKind.CONSUMER) as ended:
        yield ended
