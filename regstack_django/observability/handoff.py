"""Hand the current trace to regstack's FastAPI apps in the request's headers.

FastAPI's own tracing (0.165+) continues only a ``traceparent`` header, never the current span.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import propagate, trace


def continue_current_trace(scope: MutableMapping[str, Any]) -> None:
    """Write the current span's context into ``scope``'s headers, replacing the ones sent.

    Nothing changes when no span is current. The project's propagators write
    the headers (``traceparent``, ``tracestate``, its baggage) that FastAPI reads.
    """
    if not trace.get_current_span().get_span_context().is_valid:
        return
    carried: dict[str, str] = {}
    propagate.inject(carried)
    written = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in carried.items()
    ]
    replaced = {name for name, _ in written}
    kept = [
        (name, value) for name, value in scope.get("headers", ()) if name.lower() not in replaced
    ]
    scope["headers"] = [*kept, *written]
