"""regstack's signed-in user as ``request.user``: a real regstack over HTTP, then Django views."""

from __future__ import annotations

import logging

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import aauthenticate, get_user_model
from django.contrib.auth.models import Permission

from regstack_django.models import RegStackIdentity
from regstack_django.testing import CapturedEvents
from tests.auth.conftest import PASSWORD, bearer, login, sign_up
from tests.utils import link_token

pytestmark = pytest.mark.usefixtures("transactional_db")


async def test_the_token_makes_the_linked_user_request_user(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await sign_up(regstack_client, regstack_events, "alice@example.com")
    # user_verified linked a Django user before any Django request.
    identity = await RegStackIdentity.objects.select_related("user").aget()
    assert identity.user.email == "alice@example.com"
    assert not identity.user.has_usable_password()
    for route in ("/me/", "/ame/"):
        answer = await regstack_client.get(route, headers=bearer(token))
        assert answer.text == "alice@example.com"
    answer = await regstack_client.get("/private/", headers=bearer(token))
    assert answer.text == "private alice@example.com"
    assert (await regstack_client.get("/aprivate/", headers=bearer(token))).text == "private"
    assert (await regstack_client.get("/example-only/", headers=bearer(token))).status_code == 200
    assert await get_user_model().objects.acount() == 1


async def test_without_a_token_the_view_sees_an_anonymous_user(
    regstack_client: httpx.AsyncClient,
) -> None:
    assert (await regstack_client.get("/me/")).text == "anonymous"
    answer = await regstack_client.get("/private/")
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/accounts/login/")


async def test_logout_refuses_the_token_on_the_very_next_request(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await sign_up(regstack_client, regstack_events, "bob@example.com")
    assert (await regstack_client.get("/me/", headers=bearer(token))).text == "bob@example.com"
    answer = await regstack_client.post("/api/auth/logout", headers=bearer(token))
    assert answer.status_code == 200
    # The cache (cache_seconds=60 here) held the token: the logout emptied it.
    assert (await regstack_client.get("/me/", headers=bearer(token))).text == "anonymous"
    assert (await regstack_client.get("/ame/", headers=bearer(token))).text == "anonymous"
    assert (await regstack_client.get("/private/", headers=bearer(token))).status_code == 302


async def test_a_password_change_refuses_the_old_token(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    old = await sign_up(regstack_client, regstack_events, "carol@example.com")
    assert (await regstack_client.get("/me/", headers=bearer(old))).text == "carol@example.com"
    answer = await regstack_client.post(
        "/api/auth/change-password",
        headers=bearer(old),
        json={"current_password": PASSWORD, "new_password": "another-long-password-2"},
    )
    assert answer.status_code == 200, answer.text
    assert (await regstack_client.get("/me/", headers=bearer(old))).text == "anonymous"
    new = await login(regstack_client, "carol@example.com", "another-long-password-2")
    assert (await regstack_client.get("/me/", headers=bearer(new))).text == "carol@example.com"


@pytest.mark.parametrize("on_delete", ["deactivate", "delete"])
async def test_user_deleted_deactivates_or_deletes_the_django_user(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    settings: object,
    on_delete: str,
) -> None:
    settings.REGSTACK_DJANGO_USERS = {"on_delete": on_delete}  # type: ignore[attr-defined]
    token = await sign_up(regstack_client, regstack_events, "dan@example.com")
    assert (await regstack_client.get("/me/", headers=bearer(token))).text == "dan@example.com"
    answer = await regstack_client.request(
        "DELETE", "/api/auth/account", headers=bearer(token), json={"current_password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    users = get_user_model().objects
    if on_delete == "delete":
        assert await users.acount() == 0
    else:
        assert not (await users.aget(email="dan@example.com")).is_active
    assert (await regstack_client.get("/me/", headers=bearer(token))).text == "anonymous"


async def test_email_changed_updates_the_django_user(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await sign_up(regstack_client, regstack_events, "erin@example.com")
    answer = await regstack_client.post(
        "/api/auth/change-email",
        headers=bearer(token),
        json={"new_email": "erin.new@example.com", "current_password": PASSWORD},
    )
    assert answer.status_code == 202, answer.text
    answer = await regstack_client.post(
        "/api/auth/confirm-email-change",
        json={"token": link_token(regstack_events, "email_change_requested")},
    )
    assert answer.status_code == 200, answer.text
    user = await get_user_model().objects.aget()
    assert (user.email, user.get_username()) == ("erin.new@example.com", "erin.new@example.com")
    fresh = await login(regstack_client, "erin.new@example.com")
    assert (await regstack_client.get("/me/", headers=bearer(fresh))).text == "erin.new@example.com"


async def test_permissions_come_from_django(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await sign_up(regstack_client, regstack_events, "fay@example.com")
    assert (await regstack_client.get("/reports/", headers=bearer(token))).status_code == 403
    user = await get_user_model().objects.aget()
    permission = await Permission.objects.aget(codename="view_delivery")
    await sync_to_async(user.user_permissions.add)(permission)
    assert (await regstack_client.get("/reports/", headers=bearer(token))).status_code == 200


async def test_the_backend_authenticates_a_token(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    token = await sign_up(regstack_client, regstack_events, "gus@example.com")
    user = await aauthenticate(None, regstack_token=token)
    assert user is not None
    assert user.email == "gus@example.com"
    assert await aauthenticate(None, regstack_token=token + "x") is None


async def test_regstack_flags_map_to_django_fields_when_asked(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents, settings: object
) -> None:
    settings.REGSTACK_DJANGO_USERS = {"flags": {"is_verified": ["is_staff"]}}  # type: ignore[attr-defined]
    token = await sign_up(regstack_client, regstack_events, "hal@example.com")
    assert (await regstack_client.get("/me/", headers=bearer(token))).status_code == 200
    assert (await get_user_model().objects.aget()).is_staff


async def test_the_fixture_gives_a_signed_in_client(
    regstack_user_client: httpx.AsyncClient,
) -> None:
    assert (await regstack_user_client.get("/me/")).text == "user@example.com"


async def test_no_log_record_holds_a_token(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await sign_up(regstack_client, regstack_events, "ivy@example.com")
    for sent in (token, token[:-2] + "xx", "not.a.token"):
        await regstack_client.get("/me/", headers=bearer(sent))
        await regstack_client.get("/ame/", headers=bearer(sent))
    await regstack_client.post("/api/auth/logout", headers=bearer(token))
    await regstack_client.get("/me/", headers=bearer(token))
    signature = token.rsplit(".", 1)[1]
    assert not [
        r for r in caplog.records if signature in r.getMessage() or signature in str(r.args)
    ]
