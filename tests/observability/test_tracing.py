"""Spans and metrics of a real sign-in through regstack's routes, with the SDK in memory.

The site is wrapped in OpenTelemetry's ASGI middleware, as a traced project runs it; the test
plays the browser's caller, with a span and its ``traceparent`` and without.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from django.test import override_settings
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode

from regstack_django import HookRegistry, signals
from regstack_django.observability import switch
from regstack_django.testing import CapturedEvents
from tests.observability.conftest import Telemetry

asgi = pytest.importorskip("opentelemetry.instrumentation.asgi")

pytestmark = [pytest.mark.regstack, pytest.mark.usefixtures("transactional_db")]

PASSWORD = "a-long-enough-password-1"
EMAIL = "traced@example.com"
SECRET_WORDS = (PASSWORD, EMAIL, "token=")


def on_login(sender: object, user: Any, **kwargs: Any) -> None:
    """A sync receiver (runs on the bridge's worker thread)."""


async def on_login_async(sender: object, user: Any, **kwargs: Any) -> None:
    """An async receiver."""


def on_login_broken(sender: object, user: Any, **kwargs: Any) -> None:
    """A failing receiver whose message quotes an argument: no span may carry it."""
    raise ValueError(f"cannot welcome {user.email}")


@pytest.fixture
def receivers() -> Iterator[None]:
    connected = (on_login, on_login_async, on_login_broken)
    for receiver in connected:
        signals.user_logged_in.connect(receiver)
    yield
    for receiver in connected:
        signals.user_logged_in.disconnect(receiver)


@pytest.fixture
async def traced_client(regstack_instance: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``regstack_client``'s site, inside OpenTelemetry's ASGI middleware."""
    from django.core.handlers.asgi import ASGIHandler

    from regstack_django.asgi import build_site

    app = build_site(regstack_instance, ASGIHandler(), static=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi.OpenTelemetryMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def sign_in(client: httpx.AsyncClient, events: CapturedEvents) -> dict[str, str]:
    """register -> verify -> login; the login carries the caller's trace (its headers)."""
    response = await client.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201, response.text
    (requested,) = events.of("verification_requested")
    token = parse_qs(urlsplit(requested.kwargs["url"]).query)["token"][0]
    response = await client.post("/api/auth/verify", json={"token": token})
    assert response.status_code == 200, response.text
    headers: dict[str, str] = {}
    propagate.inject(headers)
    body = {"email": EMAIL, "password": PASSWORD}
    response = await client.post("/api/auth/login", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return headers


def _ancestors(telemetry: Telemetry, span: Any) -> list[Any]:
    by_id = {s.context.span_id: s for s in telemetry.spans()}
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


def _values(span: Any) -> list[str]:
    found = [str(v) for v in (span.attributes or {}).values()]
    for event in span.events:
        found += [str(v) for v in (event.attributes or {}).values()]
    return [*found, span.name, str(span.status.description)]


@pytest.mark.usefixtures("receivers")
async def test_a_sign_in_has_a_fire_span_and_receiver_spans_under_the_request(
    telemetry: Telemetry, traced_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    with trace.get_tracer("the caller").start_as_current_span("caller") as caller:
        await sign_in(traced_client, regstack_events)
    trace_id = caller.get_span_context().trace_id

    (fire,) = [s for s in telemetry.named("regstack.fire user_logged_in")]
    assert fire.context.trace_id == trace_id
    # Above it: the request's server span (FastAPI may add spans of its own in between).
    servers = [s for s in _ancestors(telemetry, fire) if s.kind is SpanKind.SERVER]
    assert servers
    assert "login" in servers[0].name
    assert _ancestors(telemetry, fire)[-1].context.span_id == caller.get_span_context().span_id
    assert fire.attributes["regstack.event"] == "user_logged_in"
    assert fire.attributes["regstack.failures"] == 1
    assert fire.status.status_code is StatusCode.ERROR

    children = {
        s.attributes["regstack.receiver"]: s
        for s in telemetry.named("regstack.receiver ")
        if s.parent.span_id == fire.context.span_id
    }
    module = __name__
    assert set(children) == {
        f"{module}.on_login",
        f"{module}.on_login_async",
        f"{module}.on_login_broken",
    }
    assert children[f"{module}.on_login"].attributes["regstack.outcome"] == "ok"
    assert children[f"{module}.on_login"].attributes["regstack.mode"] == "sync"
    assert children[f"{module}.on_login_async"].attributes["regstack.mode"] == "async"
    broken = children[f"{module}.on_login_broken"]
    assert broken.attributes["regstack.outcome"] == "error"
    assert broken.attributes["error.type"] == "builtins.ValueError"
    assert broken.status.status_code is StatusCode.ERROR
    assert not broken.events  # no exception event: its message quotes the user's address

    # No span of the bridge carries an argument's value, the password or a token.
    for span in telemetry.named("regstack."):
        for value in _values(span):
            assert not any(word in value for word in SECRET_WORDS), (span.name, value)


def _has_own_tracing() -> bool:
    """Whether the installed FastAPI traces its requests itself (0.165 and later)."""
    import importlib.util

    return importlib.util.find_spec("fastapi.telemetry") is not None


@pytest.fixture(params=["fastapi-tracing", "no-fastapi-tracing"])
def fastapi_tracing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether FastAPI traces the site's apps itself; off: as a FastAPI without telemetry."""
    if request.param == "no-fastapi-tracing" and _has_own_tracing():
        import fastapi

        class Untraced(fastapi.FastAPI):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(telemetry={"tracing": False}, **kwargs)

        monkeypatch.setattr(fastapi, "FastAPI", Untraced)  # build_site imports it when called
    return request.param == "fastapi-tracing" and _has_own_tracing()


@pytest.mark.usefixtures("receivers")
async def test_without_traceparent_the_spans_share_the_wrapping_middlewares_trace(
    telemetry: Telemetry,
    fastapi_tracing: bool,
    traced_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
) -> None:
    assert not trace.get_current_span().get_span_context().is_valid
    assert await sign_in(traced_client, regstack_events) == {}  # no traceparent sent

    (fire,) = telemetry.named("regstack.fire user_logged_in")
    chain = _ancestors(telemetry, fire)
    root = chain[-1]
    assert root.parent is None
    assert root.instrumentation_scope.name == asgi.__name__  # the middleware's request span
    assert root.kind is SpanKind.SERVER
    assert "login" in root.name
    receivers = [s for s in telemetry.named("regstack.receiver ") if s.parent == fire.context]
    assert len(receivers) == 3
    trace_ids = {s.context.trace_id for s in [fire, *receivers, *chain]}
    assert trace_ids == {root.context.trace_id}
    own = [s for s in chain if s.instrumentation_scope.name == "fastapi"]
    if fastapi_tracing:  # FastAPI's server span: under the middleware's, above the fire
        assert [s.kind for s in own if s.kind is SpanKind.SERVER] == [SpanKind.SERVER]
        assert own[-1].parent.span_id == root.context.span_id
    else:
        assert own == []
    # Every span the sign-in's requests made is in one of the middleware's traces.
    roots = {s.context.trace_id for s in telemetry.spans() if s.parent is None}
    assert {s.context.trace_id for s in telemetry.spans()} == roots
    assert all(
        s.instrumentation_scope.name == asgi.__name__ for s in telemetry.spans() if s.parent is None
    )


@pytest.mark.usefixtures("receivers")
async def test_an_app_of_ones_own_with_the_middleware_inside_fastapi_is_one_trace(
    telemetry: Telemetry,
    traced_client: httpx.AsyncClient,  # its lifespan installs regstack's schema
    regstack_instance: Any,
    regstack_events: CapturedEvents,
) -> None:
    """``attach()`` and a FastAPI app of the project's: docs/tracing.md's ``add_middleware``."""
    from fastapi import FastAPI

    own = FastAPI()
    own.include_router(regstack_instance.router, prefix=regstack_instance.config.api_prefix)
    own.add_middleware(asgi.OpenTelemetryMiddleware)
    transport = httpx.ASGITransport(app=own)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await sign_in(client, regstack_events)

    (fire,) = telemetry.named("regstack.fire user_logged_in")
    root = _ancestors(telemetry, fire)[-1]
    assert root.parent is None
    assert root.instrumentation_scope.name == asgi.__name__
    assert "login" in root.name
    assert {s.context.trace_id for s in telemetry.named("regstack.")} == {root.context.trace_id}


@pytest.mark.usefixtures("receivers")
async def test_metrics_count_fires_failures_and_durations(
    telemetry: Telemetry, registry: HookRegistry, django_user_model: Any
) -> None:
    def fires() -> int:
        points = telemetry.points("regstack.fires")
        return sum(p.value for p in points if p.attributes["regstack.event"] == "user_logged_in")

    before = fires()

    class User:
        email = "metrics@example.com"

    await registry.fire("user_logged_in", user=User())
    assert fires() == before + 1
    broken = f"{__name__}.on_login_broken"
    failures = [
        p
        for p in telemetry.points("regstack.receiver.failures")
        if p.attributes["regstack.receiver"] == broken
    ]
    assert failures
    assert failures[0].attributes["regstack.outcome"] == "error"
    durations = {
        p.attributes["regstack.receiver"]: p
        for p in telemetry.points("regstack.receiver.duration")
        if p.attributes["regstack.event"] == "user_logged_in"
    }
    assert durations[f"{__name__}.on_login"].count >= 1
    assert durations[f"{__name__}.on_login"].attributes["regstack.outcome"] == "ok"


async def slow_receiver(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(5)


async def test_a_timeout_is_counted_and_marks_the_fire(
    telemetry: Telemetry, registry: HookRegistry
) -> None:
    path = f"{__name__}.slow_receiver"
    hooks = {"user_logged_out": [{"handler": path, "timeout": 0.05}]}
    with override_settings(REGSTACK_HOOKS=hooks):
        await registry.fire("user_logged_out", user=None)
    (fire,) = telemetry.named("regstack.fire user_logged_out")
    (event,) = fire.events
    assert event.attributes["regstack.outcome"] == "timeout"
    timeouts = [
        p
        for p in telemetry.points("regstack.receiver.timeouts")
        if p.attributes["regstack.receiver"] == path
    ]
    assert timeouts
    assert timeouts[0].value >= 1


def test_fire_sync_is_traced_too(telemetry: Telemetry, registry: HookRegistry) -> None:
    seen: list[int] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        seen.append(trace.get_current_span().get_span_context().span_id)

    signals.user_logged_out.connect(receiver)
    try:
        registry.fire_sync("user_logged_out", user=None)
    finally:
        signals.user_logged_out.disconnect(receiver)
    (fire,) = telemetry.named("regstack.fire user_logged_out")
    (span,) = telemetry.named("regstack.receiver ")
    assert span.parent.span_id == fire.context.span_id
    assert seen == [span.context.span_id]  # the receiver runs inside its own span


def test_off_no_span_and_the_flag_follows_the_setting(
    telemetry: Telemetry, registry: HookRegistry
) -> None:
    signals.user_logged_out.connect(on_login)
    try:
        with override_settings(REGSTACK_OPENTELEMETRY=False):
            assert switch.on is False
            registry.fire_sync("user_logged_out", user=None)
        assert switch.on is True
    finally:
        signals.user_logged_out.disconnect(on_login)
    assert telemetry.named("regstack.") == []


@pytest.mark.django_db
def test_the_outbox_gauges_read_pending_dead_and_the_oldest_age(telemetry: Telemetry) -> None:
    import datetime
    import uuid

    from django.utils import timezone

    from regstack_django.models import OutboxEvent

    now = timezone.now()
    rows = [
        OutboxEvent(event_id=uuid.uuid4(), event="e", handler="h", message="m", created_at=now),
        OutboxEvent(
            event_id=uuid.uuid4(),
            event="e",
            handler="h",
            message="m",
            created_at=now - datetime.timedelta(seconds=120),
        ),
        OutboxEvent(event_id=uuid.uuid4(), event="e", handler="h", message="m", dead_at=now),
        OutboxEvent(event_id=uuid.uuid4(), event="e", handler="h", message="m", delivered_at=now),
    ]
    OutboxEvent.objects.bulk_create(rows)

    def gauge(name: str) -> float:
        (point,) = telemetry.points(name)
        return float(point.value)

    assert gauge("regstack.outbox.pending") == 2
    assert gauge("regstack.outbox.dead") == 1
    assert 120 <= gauge("regstack.outbox.oldest_age") < 180
