"""``login_failed`` over regstack's real ``POST /login``: each reason, once, never the password."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import override_settings

from regstack_django import EventContext, signals
from regstack_django.hosting import login_watch
from regstack_django.testing import CapturedEvents
from tests import hooks
from tests.utils import register_and_verify

PASSWORD = "a-long-enough-password-1"
WRONG = "not-the-password-at-all-9"
EMAIL = "Grace@Example.COM"
NORMALISED = "Grace@example.com"  # regstack's EmailStr: the domain lower-cased


@pytest.fixture
def failures() -> Iterator[list[dict[str, Any]]]:
    """The kwargs of every ``login_failed`` a Django receiver gets."""
    seen: list[dict[str, Any]] = []

    def on_failed(sender: object, **kwargs: Any) -> None:
        seen.append(kwargs)

    signals.login_failed.connect(on_failed)
    yield seen
    signals.login_failed.disconnect(on_failed)


async def register(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def sign_in(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": EMAIL, "password": password}, headers={"User-Agent": "t"}
    )


def assert_no_password(failures: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    for kwargs in failures:
        assert set(kwargs) == {"signal", "email", "reason", "context"}
        assert PASSWORD not in repr(kwargs)
        assert WRONG not in repr(kwargs)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        assert PASSWORD not in text
        assert WRONG not in text


@pytest.mark.usefixtures("transactional_db")
async def test_a_wrong_password_sends_one_invalid_credentials_and_a_right_one_none(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    failures: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
    response = await sign_in(regstack_client, WRONG)
    assert response.status_code == 401
    (failed,) = failures
    assert failed["email"] == NORMALISED
    assert failed["reason"] == "invalid_credentials"
    assert isinstance(failed["context"], EventContext)
    assert failed["context"].request_id == response.headers["X-Request-ID"]
    assert failed["context"].path == "/api/auth/login"
    assert (await sign_in(regstack_client, PASSWORD)).status_code == 200
    assert len(failures) == 1, "a correct sign-in sends none"
    unknown = await regstack_client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": WRONG}
    )
    assert unknown.status_code == 401
    assert [f["email"] for f in failures[1:]] == ["nobody@example.com"]
    assert_no_password(failures, caplog)


@pytest.mark.usefixtures("transactional_db")
async def test_lockout_sends_locked_out_and_a_bad_request_sends_nothing(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    failures: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await register_and_verify(regstack_client, regstack_events, EMAIL, PASSWORD)
    statuses = [(await sign_in(regstack_client, WRONG)).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # regstack's default: 5 failures lock the address
    assert [f["reason"] for f in failures] == ["invalid_credentials"] * 5 + ["locked_out"]
    malformed = await regstack_client.post("/api/auth/login", json={"email": "not-an-address"})
    assert malformed.status_code == 422
    assert len(failures) == 6, "a request regstack refuses as malformed is no sign-in"
    assert_no_password(failures, caplog)


@pytest.mark.usefixtures("transactional_db")
async def test_unverified_and_disabled_accounts_have_their_reasons(
    regstack_client: httpx.AsyncClient,
    regstack_instance: Any,
    failures: list[dict[str, Any]],
) -> None:
    from regstack.models.user import BaseUser

    await register(regstack_client)
    assert (await sign_in(regstack_client, PASSWORD)).status_code == 401, "pending: no account"
    # An account made while verification was off, signing in after it was turned on.
    hashed = regstack_instance.password_hasher.hash(PASSWORD)
    user = await regstack_instance.users.create(
        BaseUser(email=NORMALISED, hashed_password=hashed, is_verified=False)
    )
    assert (await sign_in(regstack_client, PASSWORD)).status_code == 403
    await regstack_instance.users.set_active(user.id, is_active=False)
    assert (await sign_in(regstack_client, PASSWORD)).status_code == 403
    reasons = [f["reason"] for f in failures]
    assert reasons == ["invalid_credentials", "not_verified", "inactive"]


@pytest.mark.usefixtures("transactional_db")
async def test_login_failed_reaches_inline_background_and_durable_entries(
    regstack_client: httpx.AsyncClient,
) -> None:
    entries = [
        "tests.hooks.record_sync",
        {"handler": "tests.hooks.record_background", "background": True},
        {"handler": "tests.hooks.record_durable", "background": True, "durable": True},
    ]
    with override_settings(REGSTACK_HOOKS={"login_failed": entries}):
        response = await sign_in(regstack_client, WRONG)
        await sync_to_async(call_command)("regstack_relay", "--once", stdout=io.StringIO())
    assert response.status_code == 401
    by_handler = {name: kwargs for _, name, kwargs in hooks.CALLS}
    assert set(by_handler) == {"record_sync", "record_background", "record_durable"}
    inline = by_handler["record_sync"]
    for kwargs in by_handler.values():
        assert kwargs["email"] == NORMALISED
        assert kwargs["reason"] == "invalid_credentials"
        assert kwargs["context"] == inline["context"] != None  # noqa: E711
    assert event_rows("login_failed") == [
        ("tests.hooks.record_sync", "inline"),
        ("tests.hooks.record_background", "background"),
        ("tests.hooks.record_durable", "durable"),
    ]


def event_rows(event: str) -> list[tuple[str, str]]:
    import json

    out = io.StringIO()
    with override_settings(
        REGSTACK_HOOKS={
            "login_failed": [
                "tests.hooks.record_sync",
                {"handler": "tests.hooks.record_background", "background": True},
                {"handler": "tests.hooks.record_durable", "background": True, "durable": True},
            ]
        }
    ):
        call_command("regstack_hooks", event, "--json", stdout=out)
    (row,) = json.loads(out.getvalue())
    return [(r["name"], r["delivery"]) for r in row["receivers"]]


def test_reasons_from_answers_an_upgrade_may_change(caplog: pytest.LogCaptureFixture) -> None:
    assert login_watch.reason_of(401, b"") == "invalid_credentials"
    assert login_watch.reason_of(200, b"") is None
    assert login_watch.reason_of(422, b"") is None
    rate_limited = b'{"error": "Rate limit exceeded: 5 per 1 minute"}'
    assert login_watch.reason_of(429, rate_limited) is None
    login_watch._warned.clear()
    with caplog.at_level(logging.WARNING, logger="regstack_django"):
        assert login_watch.reason_of(403, b'{"detail": "Account is frozen."}') is None
        assert login_watch.reason_of(403, b'{"detail": "Something else."}') is None
    (warning,) = caplog.records
    assert "no login_failed was sent" in warning.getMessage()
    assert "regstack_django.W045" in warning.getMessage()


def test_this_regstacks_login_route_has_the_shape_the_bridge_reads() -> None:
    assert login_watch.login_route_problem() is None
