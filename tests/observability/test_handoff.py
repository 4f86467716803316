"""The site's middleware hands the current span to regstack's FastAPI apps as request headers.

OpenTelemetry's API only (a span context made by hand): these run wherever the API is installed.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.trace")

from django.test import override_settings
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from regstack_django.hosting.request import RequestContextMiddleware

CURRENT = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)
SENT = b"00-11111111111111111111111111111111-2222222222222222-01"


async def headers_seen(*, within_span: bool, sent: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Run one request through the middleware; return the headers the app behind it read."""
    seen: dict[bytes, bytes] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope["headers"])

    scope = {"type": "http", "method": "POST", "path": "/api/auth/login", "headers": sent}
    middleware = RequestContextMiddleware(app)
    if within_span:
        with trace.use_span(NonRecordingSpan(CURRENT)):
            await middleware(scope, None, None)  # type: ignore[arg-type]
    else:
        await middleware(scope, None, None)  # type: ignore[arg-type]
    return seen


@override_settings(REGSTACK_OPENTELEMETRY=True)
async def test_the_current_span_replaces_the_traceparent_sent_and_keeps_other_headers() -> None:
    sent = [(b"traceparent", SENT), (b"user-agent", b"tests")]
    seen = await headers_seen(within_span=True, sent=sent)
    assert seen[b"traceparent"] == b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert seen[b"user-agent"] == b"tests"


@override_settings(REGSTACK_OPENTELEMETRY=True)
async def test_without_a_current_span_the_headers_are_the_ones_sent() -> None:
    sent = [(b"traceparent", SENT)]
    assert await headers_seen(within_span=False, sent=sent) == {b"traceparent": SENT}
    assert await headers_seen(within_span=False, sent=[]) == {}


@override_settings(REGSTACK_OPENTELEMETRY=False)
async def test_tracing_off_the_headers_are_the_ones_sent() -> None:
    sent = [(b"traceparent", SENT)]
    assert await headers_seen(within_span=True, sent=sent) == {b"traceparent": SENT}
