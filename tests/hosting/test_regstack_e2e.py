"""A real regstack, driven over HTTP, delivering its events to Django receivers.

Every test builds a fresh ``regstack.RegStack`` on a temporary SQLite file
(``support.tour``), runs its lifespan, ``attach``-es it and talks to it
through httpx: no fake registry anywhere.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from django.test import override_settings
from regstack import RegStack
from regstack.models.user import BaseUser

import regstack_django
from regstack_django import KNOWN_EVENTS, attach, signals
from regstack_django.events import EVENT_ARGUMENTS
from regstack_django.testing import capture_events
from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack
from support.tour.steps import EXPECTED_COUNTS, run_tour
from tests.testapp.models import Delivery
from tests.utils import bridge_errors, connected

Recorded = list[tuple[str, object, dict[str, Any]]]
#: The ``regstack_databases`` fixture (tests/conftest.py): a fresh database URL by name.
Databases = Callable[[str], str]


@asynccontextmanager
async def serving(
    regstack_databases: Databases, name: str = "rs"
) -> AsyncIterator[tuple[RegStack, httpx.AsyncClient]]:
    """A real regstack app on a fresh database with its lifespan run, and a client for it."""
    rs = build_tour_regstack(build_tour_config(regstack_databases(name)))
    app = build_fastapi_app(rs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield rs, client


@contextmanager
def recording_every_event(recorded: Recorded) -> Any:
    """A Django @receiver-style recorder on all 20 signals."""

    def record(sender: object, signal: object, **kwargs: Any) -> None:
        recorded.append((signals.event_name(signal), sender, kwargs))

    for event in KNOWN_EVENTS:
        signals.signal_for(event).connect(record, weak=False)
    try:
        yield
    finally:
        for event in KNOWN_EVENTS:
            signals.signal_for(event).disconnect(record)


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/api/auth/register", json={"email": email, "password": "a-long-password-1"}
    )


async def test_all_twenty_events_reach_django_receivers_exactly_once(
    regstack_databases: Databases,
) -> None:
    recorded: Recorded = []
    async with serving(regstack_databases) as (rs, client):
        attach(rs)
        with recording_every_event(recorded):
            await run_tour(client, rs, say=lambda line: None)
    counts = Counter(event for event, _, _ in recorded)
    assert counts == EXPECTED_COUNTS
    for event in sorted(KNOWN_EVENTS):
        assert counts[event] >= 1, f"{event} never reached a Django receiver"
    for event, sender, kwargs in recorded:
        assert sender is rs
        required, optional = EVENT_ARGUMENTS[event]
        context = kwargs.pop("context")  # the bridge's, beside regstack's arguments
        assert context is None or context.path is not None, event
        assert set(required) <= set(kwargs) <= {*required, *optional}, (event, set(kwargs))
        if "user" in kwargs:
            assert isinstance(kwargs["user"], BaseUser)
    modes = [k["mode"] for e, _, k in recorded if e == "oauth_signin_started"]
    assert modes == ["signin", "link"]
    link_started = [
        k for e, _, k in recorded if e == "oauth_signin_started" and k["mode"] == "link"
    ]
    assert "user" in link_started[0]


async def test_handlers_registered_on_regstack_still_run(regstack_databases: Databases) -> None:
    direct: list[str] = []
    django_side: list[str] = []
    async with serving(regstack_databases) as (rs, client):
        rs.on("verification_requested", lambda **kwargs: direct.append(kwargs["email"]))
        attach(rs)
        with connected(
            signals.verification_requested, lambda sender, **kw: django_side.append(kw["email"])
        ):
            response = await register(client, "a@example.com")
    assert response.status_code in (200, 201), response.text
    assert direct == ["a@example.com"]
    assert django_side == ["a@example.com"]


async def test_attaching_twice_or_its_registry_too_never_fires_twice(
    regstack_databases: Databases,
) -> None:
    async with serving(regstack_databases) as (rs, client):
        bridge = attach(rs)
        assert attach(rs) is bridge
        assert attach(rs.hooks) is bridge
        with capture_events() as fired:
            await register(client, "b@example.com")
    assert [(f.event, f.sender) for f in fired] == [("verification_requested", rs)]
    assert bridge.sender is rs


async def test_attaching_the_registry_first_then_the_regstack_upgrades_the_sender(
    regstack_databases: Databases,
) -> None:
    async with serving(regstack_databases) as (rs, client):
        bridge = attach(rs.hooks)
        assert bridge.sender is rs.hooks
        assert attach(rs) is bridge
        with capture_events() as fired:
            await register(client, "c@example.com")
    assert [f.sender for f in fired] == [rs]


async def test_two_attached_regstacks_are_told_apart_by_sender(
    regstack_databases: Databases,
) -> None:
    got: list[tuple[object, str]] = []
    async with (
        serving(regstack_databases, "one") as (one, client_one),
        serving(regstack_databases, "two") as (
            two,
            client_two,
        ),
    ):
        attach(one)
        attach(two)

        def only_two(sender: object, **kwargs: Any) -> None:
            got.append((sender, kwargs["email"]))

        signals.verification_requested.connect(only_two, sender=two, weak=False)
        try:
            await register(client_one, "one@example.com")
            await register(client_two, "two@example.com")
        finally:
            signals.verification_requested.disconnect(only_two, sender=two)
    assert got == [(two, "two@example.com")]


@pytest.mark.parametrize("target", [object(), "regstack", None, regstack_django.HookRegistry()])
def test_attaching_something_else_is_a_clear_type_error(target: object) -> None:
    with pytest.raises(TypeError, match=r"attach\(\) takes a regstack\.RegStack"):
        attach(target)


@pytest.mark.django_db(transaction=True)
async def test_a_sync_orm_receiver_works_from_regstacks_async_routes(
    regstack_databases: Databases,
) -> None:
    def write(sender: object, email: str, **kwargs: Any) -> None:
        Delivery.objects.create(event="verification_requested", receiver="write", detail=email)

    async with serving(regstack_databases) as (rs, client):
        attach(rs)
        with connected(signals.verification_requested, write):
            response = await register(client, "orm@example.com")
    assert response.status_code in (200, 201)
    assert await Delivery.objects.filter(detail="orm@example.com").acount() == 1


async def _register_response(
    regstack_databases: Databases, name: str, *receivers: Callable[..., Any]
) -> Any:
    async with serving(regstack_databases, name) as (rs, client):
        attach(rs)
        with connected(signals.verification_requested, *receivers):
            response = await register(client, "same@example.com")
    body = response.json()
    body.pop("expires_at", None)  # a timestamp: differs between any two requests
    return response.status_code, body


async def test_a_raising_or_hanging_receiver_never_changes_the_http_response(
    regstack_databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    baseline = await _register_response(regstack_databases, "baseline")

    def raises(sender: object, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    async def raises_async(sender: object, **kwargs: Any) -> None:
        raise RuntimeError("async receiver bug")

    with_failures = await _register_response(regstack_databases, "failing", raises, raises_async)
    with override_settings(
        REGSTACK_HOOKS={
            "verification_requested": [{"handler": "tests.hooks.slow_async", "timeout": 0.1}]
        }
    ):
        started = asyncio.get_running_loop().time()
        with_timeout = await _register_response(regstack_databases, "hanging")
        elapsed = asyncio.get_running_loop().time() - started
    assert with_failures == baseline
    assert with_timeout == baseline
    assert elapsed < 3  # the 5 s sleeper was cancelled at its 0.1 s budget
    names = sorted(r.regstack_receiver for r in bridge_errors(caplog))  # type: ignore[attr-defined]
    assert names == [
        "tests.hooks.slow_async",
        "tests.hosting.test_regstack_e2e.test_a_raising_or_hanging_receiver_never_changes_the_http_"
        "response.<locals>.raises",
        "tests.hosting.test_regstack_e2e.test_a_raising_or_hanging_receiver_never_changes_the_http_"
        "response.<locals>.raises_async",
    ]
