"""The ``regstack_client`` fixture: a real flow over regstack's routes, a database per test.

These tests are written the way a project's own would be: only the
``regstack_client`` and ``regstack_events`` fixtures (and pytest-django's
``transactional_db``, because receivers write from regstack's worker thread),
with receivers connected the way a project's ``receivers.py`` connects them.
No ``attach()``, no ``install_schema()``, no hand-built app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

import regstack_django
from regstack_django import signals
from regstack_django.testing import CapturedEvents, capture_events, muted
from support import databases
from tests.testapp.models import Delivery
from tests.utils import register_and_verify

PASSWORD = "a-long-enough-password-1"


def on_verified(sender: object, user: Any, **kwargs: Any) -> None:
    """A sync receiver writing an ORM row (runs in a worker thread, off the event loop)."""
    Delivery.objects.create(event="user_verified", receiver="on_verified", detail=user.email)


async def on_logged_in(sender: object, user: Any, **kwargs: Any) -> None:
    """An async receiver writing an ORM row through the async ORM."""
    await Delivery.objects.acreate(
        event="user_logged_in", receiver="on_logged_in", detail=user.email
    )


@pytest.fixture(autouse=True)
def receivers() -> Iterator[None]:
    signals.user_verified.connect(on_verified)
    signals.user_logged_in.connect(on_logged_in)
    yield
    signals.user_verified.disconnect(on_verified)
    signals.user_logged_in.disconnect(on_logged_in)


async def sign_up(client: httpx.AsyncClient, events: CapturedEvents, email: str) -> None:
    """register -> verify (token from the verification_requested event) -> login."""
    await register_and_verify(client, events, email, PASSWORD)
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


async def rows() -> list[tuple[str, str, str]]:
    return [row async for row in Delivery.objects.values_list("event", "receiver", "detail")]


@pytest.mark.usefixtures("transactional_db")
async def test_register_verify_login_writes_the_receivers_rows(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    await sign_up(regstack_client, regstack_events, "alice@example.com")
    assert regstack_events.events == ["verification_requested", "user_verified", "user_logged_in"]
    assert await rows() == [
        ("user_verified", "on_verified", "alice@example.com"),
        ("user_logged_in", "on_logged_in", "alice@example.com"),
    ]


@pytest.mark.usefixtures("transactional_db")
async def test_each_test_has_its_own_regstack_database(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    # The same address as the test above: its account is not in this test's database.
    await sign_up(regstack_client, regstack_events, "alice@example.com")
    assert len(await rows()) == 2


async def test_the_client_serves_regstack_docs_and_django_and_get_regstack_is_the_instance(
    regstack_client: httpx.AsyncClient,
    regstack_instance: Any,
    regstack_database_url: str,
    tmp_path: Any,
) -> None:
    assert regstack_django.get_regstack() is regstack_instance
    url = regstack_instance.config.database_url.get_secret_value()
    assert url == regstack_database_url  # this test's own database
    if not databases.on_postgres():  # the plugin's fixture: a file in this test's tmp_path
        assert url.startswith(f"sqlite+aiosqlite:///{tmp_path}/")
    assert (await regstack_client.get("/api/auth/docs")).status_code == 200
    assert (await regstack_client.get("/api/auth/openapi.json")).json()["paths"]
    # Django answers everything outside the prefix.
    response = await regstack_client.get("/hello/")
    assert response.text == "hello from django"


async def test_regstack_instance_factories_get_the_test_database(
    regstack_database_url: str, settings: Any
) -> None:
    from regstack_django.hosting.instance import build_on

    settings.REGSTACK = None
    settings.REGSTACK_INSTANCE = "tests.instances.build"
    rs = build_on(regstack_database_url)
    assert rs.config.database_url.get_secret_value() == regstack_database_url
    settings.REGSTACK_INSTANCE = "tests.instances.build_without_database_url"
    with pytest.raises(ImproperlyConfigured, match="database_url"):
        build_on(regstack_database_url)


@pytest.mark.parametrize("helper", [capture_events, muted])
def test_an_unknown_event_name_is_refused_with_did_you_mean(helper: Any) -> None:
    with pytest.raises(ValueError, match=r"did you mean 'user_logged_in'\? .*custom=True"):
        helper("user_loged_in").__enter__()
    with helper("my_own_event", custom=True):
        pass


def test_a_custom_event_name_is_captured_when_said_so() -> None:
    registry = regstack_django.get_registry()
    with capture_events("my_own_event", custom=True) as captured:
        registry.fire_sync("my_own_event", x=1)
    assert captured.events == ["my_own_event"]
