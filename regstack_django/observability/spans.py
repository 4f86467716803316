"""The bridge's tracer and one receiver's span: name, mode, outcome, duration; never a value."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from regstack_django.observability import meters

tracer = trace.get_tracer("regstack_django")


def span_attributes(event: str, name: str, mode: str) -> dict[str, str]:
    """Return a receiver span's attributes: the event, the receiver's dotted name, its mode."""
    return {"regstack.event": event, "regstack.receiver": name, "regstack.mode": mode}


@contextmanager
def receiver_span(
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
                span.set_attribute("error.type", type_name(failed[0]))
                span.set_status(Status(StatusCode.ERROR, outcome))
            took = time.perf_counter() - started
            meters.duration.record(took, {**attributes, "regstack.outcome": outcome})


def type_name(exc: BaseException) -> str:
    """Return the dotted name of an exception's type (never its message)."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"
