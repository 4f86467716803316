"""Request context over regstack's real routes: the address, the agent, the request id.

Through the ``regstack_client`` fixture (the site of ``get_asgi_application``, peer 127.0.0.1).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import override_settings

import regstack_django
from regstack_django import EventContext, signals
from regstack_django.hooks.introspect import from_registry_on, signal_receivers
from regstack_django.models import OutboxEvent
from regstack_django.testing import CapturedEvents
from tests import hooks
from tests.utils import register_and_verify

PASSWORD = "a-long-enough-password-1"
EMAIL = "ada@example.com"
AGENT = "Mozilla/5.0 (context test)"


@pytest.fixture
def contexts() -> Iterator[list[tuple[str, Any]]]:
    """Record ``(event, context)`` of every sign-in a Django receiver gets."""
    seen: list[tuple[str, Any]] = []

    def on_login(sender: object, context: Any = "missing", **kwargs: Any) -> None:
        seen.append(("user_logged_in", context))

    signals.user_logged_in.connect(on_login)
    yield seen
    signals.user_logged_in.disconnect(on_login)


async def sign_in(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/auth/login?next=/secret-token-in-query",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"User-Agent": AGENT, **headers},
    )


@pytest.mark.usefixtures("transactional_db")
async def test_by_default_the_peer_address_is_the_client_and_forwarded_for_is_ignored(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    contexts: list[tuple[str, Any]],
) -> None:
    await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
    response = await sign_in(regstack_client, **{"X-Forwarded-For": "198.51.100.9"})
    assert response.status_code == 200, response.text
    ((_, context),) = contexts
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32, "generated when the client sends none, echoed"
    assert context == EventContext(
        client_ip="127.0.0.1",
        user_agent=AGENT,
        request_id=request_id,
        method="POST",
        path="/api/auth/login",  # never the query string
    )


@pytest.mark.usefixtures("transactional_db")
async def test_from_a_trusted_proxy_the_rightmost_untrusted_forwarded_hop_is_the_client(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    contexts: list[tuple[str, Any]],
) -> None:
    await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
    forwarded = "192.0.2.1, 203.0.113.5, 10.1.2.3"  # a spoofed hop, the client, our proxy
    with override_settings(REGSTACK_TRUSTED_PROXIES=["127.0.0.1", "10.0.0.0/8"]):
        response = await sign_in(
            regstack_client, **{"X-Forwarded-For": forwarded, "X-Request-ID": "edge-42"}
        )
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "edge-42"
    ((_, context),) = contexts
    assert context.client_ip == "203.0.113.5"
    assert context.request_id == "edge-42"


@pytest.mark.usefixtures("transactional_db")
async def test_the_request_id_header_is_a_setting_and_a_malformed_id_is_replaced(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    contexts: list[tuple[str, Any]],
) -> None:
    await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
    with override_settings(REGSTACK_REQUEST_ID_HEADER="X-Correlation-ID"):
        response = await sign_in(regstack_client, **{"X-Correlation-ID": "bad id\twith spaces"})
    ((_, context),) = contexts
    assert context.request_id == response.headers["X-Correlation-ID"] != "bad id\twith spaces"
    assert "X-Request-ID" not in response.headers


@pytest.mark.usefixtures("transactional_db")
async def test_django_pages_get_the_request_id_too(regstack_client: httpx.AsyncClient) -> None:
    response = await regstack_client.get("/hello/", headers={"X-Request-ID": "page-1"})
    assert response.headers["X-Request-ID"] == "page-1"


@pytest.mark.usefixtures("transactional_db")
async def test_regstack_handlers_get_exactly_regstacks_arguments(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents, regstack_instance: Any
) -> None:
    on_bridge: list[set[str]] = []
    on_regstack: list[set[str]] = []
    regstack_django.attach(regstack_instance).on(
        "user_logged_in", lambda **kwargs: on_bridge.append(set(kwargs))
    )
    regstack_instance.hooks.on("user_logged_in", lambda **kwargs: on_regstack.append(set(kwargs)))
    try:
        await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
        assert (await sign_in(regstack_client)).status_code == 200
    finally:  # on() holds its adapter strongly: take it off the signal again
        for _, adapter, _ in signal_receivers(signals.user_logged_in):
            if from_registry_on(adapter):
                signals.user_logged_in.disconnect(adapter, sender=regstack_instance)
    assert on_bridge == on_regstack == [{"user"}]


@pytest.mark.usefixtures("transactional_db")
async def test_background_and_durable_handlers_get_the_same_context(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    contexts: list[tuple[str, Any]],
) -> None:
    entries = [
        {"handler": "tests.hooks.record_background", "background": True},
        {"handler": "tests.hooks.record_durable", "background": True, "durable": True},
    ]
    await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
    with override_settings(REGSTACK_HOOKS={"user_logged_in": entries}):
        assert (await sign_in(regstack_client)).status_code == 200
        assert await OutboxEvent.objects.acount() == 1
        await sync_to_async(call_command)("regstack_relay", "--once", stdout=io.StringIO())
    ((_, context),) = contexts
    by_handler = {name: kwargs for _, name, kwargs in hooks.CALLS}
    assert set(by_handler) == {"record_background", "record_durable"}
    for kwargs in by_handler.values():
        assert kwargs["context"] == context
        assert isinstance(kwargs["context"], EventContext)
