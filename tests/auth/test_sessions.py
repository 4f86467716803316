"""Browser sessions: sign in over regstack, open a Django session, then the cookie alone.

Sign-out and revocation close the session on the next request.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.contrib.sessions.models import Session

from regstack_django.testing import CapturedEvents
from tests.auth.conftest import PASSWORD, bearer, sign_up

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def sessions_on(settings: Any) -> None:
    settings.REGSTACK_DJANGO_USERS = {
        "sessions": True,
        "cache_seconds": 60,
        "flags": {"is_verified": ["is_staff"]},
    }


async def open_session(client: httpx.AsyncClient, events: CapturedEvents, email: str) -> str:
    """Sign up and in over regstack, open the Django session; return the access token."""
    token = await sign_up(client, events, email)
    answer = await client.post("/regstack/session/", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "open"
    assert "sessionid" in client.cookies
    # From here on the requests carry the session cookie only.
    assert (await client.get("/page/")).text == f"signed in as {email}"
    assert (await client.get("/staff/")).text == "staff"
    assert (await client.get("/ame/")).text == email
    return token


async def assert_closed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/page/")).text == "anonymous"
    assert (await client.get("/staff/")).status_code == 302  # the admin's login redirect
    assert (await client.get("/ame/")).text == "anonymous"
    assert await Session.objects.acount() == 0  # flushed, not just ignored


async def test_regstack_logout_closes_the_session_on_the_next_request(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await open_session(regstack_client, regstack_events, "sam@example.com")
    answer = await regstack_client.post("/api/auth/logout", headers=bearer(token))
    assert answer.status_code == 200
    await assert_closed(regstack_client)


async def test_a_password_change_closes_the_session(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await open_session(regstack_client, regstack_events, "tom@example.com")
    answer = await regstack_client.post(
        "/api/auth/change-password",
        headers=bearer(token),
        json={"current_password": PASSWORD, "new_password": "another-long-password-2"},
    )
    assert answer.status_code == 200, answer.text
    await assert_closed(regstack_client)


async def test_deleting_the_account_closes_the_session(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await open_session(regstack_client, regstack_events, "uma@example.com")
    answer = await regstack_client.request(
        "DELETE", "/api/auth/account", headers=bearer(token), json={"current_password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    await assert_closed(regstack_client)


async def test_a_revocation_no_receiver_saw_closes_the_session_within_cache_seconds(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    regstack_instance: Any,
    settings: Any,
) -> None:
    # regstack's admin disables a user without firing an event: the cache cannot know.
    settings.REGSTACK_DJANGO_USERS = {"sessions": True, "cache_seconds": 0}
    await open_session_plain(regstack_client, regstack_events, "val@example.com")
    user = await regstack_instance.users.get_by_email("val@example.com")
    await regstack_instance.users.set_active(user.id, is_active=False)
    await assert_closed(regstack_client)


async def open_session_plain(client: httpx.AsyncClient, events: CapturedEvents, email: str) -> None:
    token = await sign_up(client, events, email)
    assert (await client.post("/regstack/session/", headers=bearer(token))).status_code == 200
    assert (await client.get("/page/")).text == f"signed in as {email}"


async def test_the_endpoint_refuses_bad_tokens_and_closes_on_delete(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents, settings: Any
) -> None:
    for headers in ({}, bearer("not.a.token"), {"Authorization": "Basic eDp5"}):
        answer = await regstack_client.post("/regstack/session/", headers=headers)
        assert answer.status_code == 401
        assert "sessionid" not in regstack_client.cookies
    assert (await regstack_client.get("/regstack/session/")).status_code == 405
    await open_session_plain(regstack_client, regstack_events, "wes@example.com")
    assert (await regstack_client.delete("/regstack/session/")).json() == {"status": "closed"}
    assert (await regstack_client.get("/page/")).text == "anonymous"
    settings.REGSTACK_DJANGO_USERS = {"sessions": False}
    assert (await regstack_client.post("/regstack/session/")).status_code == 404


async def test_a_session_without_regstack_claims_is_left_alone(
    regstack_client: httpx.AsyncClient, settings: Any
) -> None:
    # A Django-only sign-in (the admin's password form) never had a regstack token.
    from django.contrib.auth import get_user_model
    from django.test import AsyncClient

    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "regstack_django.auth.RegStackBackend",
    ]
    await get_user_model().objects.acreate_user("local", "local@example.com", "pw-local-123456")
    client = AsyncClient()
    assert await client.alogin(username="local", password="pw-local-123456")
    assert (await client.get("/page/")).content == b"signed in as local@example.com"
