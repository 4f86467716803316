"""The trace across the queue: W3C headers in a background message's signed ``meta``.

The worker's span for the handler continues the trace of the fire that queued it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from regstack_django.observability.spans import receiver_span, span_attributes

#: W3C trace context only: baggage (which may hold anything) never crosses the queue.
_propagator: Final = TraceContextTextMapPropagator()


def with_trace(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a background message's ``meta`` with the current trace (W3C headers) as "trace"."""
    carried: dict[str, str] = {}
    _propagator.inject(carried)
    if not carried:  # no span is recording here: nothing to continue
        return meta
    return {**(meta or {}), "trace": carried}


@contextmanager
def delivery_span(
    event: str, handler: str, carried: object
) -> Iterator[Callable[[BaseException], None]]:
    """Open the worker's span for one background handler, in the trace of its fire."""
    parent = None
    if isinstance(carried, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in carried.items()
    ):
        parent = _propagator.extract(carried)
    attributes = span_attributes(event, handler, "background")
    with receiver_span(f"regstack.deliver {handler}", attributes, parent, SpanKind.CONSUMER) as end:
        yield end
