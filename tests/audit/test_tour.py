"""The tour over HTTP with the audit app installed: one ``AuthEvent`` per event, no secret.

Then the admin shows them: the dashboard (an SVG chart with the counts), filters and search.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

import regstack_django
from regstack_django.audit import writer
from regstack_django.audit.models import AuthEvent
from regstack_django.testing import capture_events
from support.tour.provider import STANDIN_PROVIDER
from support.tour.steps import EXPECTED_COUNTS, run_tour

if TYPE_CHECKING:
    import httpx

pytestmark = [pytest.mark.regstack, pytest.mark.django_db(transaction=True)]

DASHBOARD = "/admin/regstack_audit/authevent/dashboard/"
CHANGELIST = "/admin/regstack_audit/authevent/"


@sync_to_async
def _rows() -> list[dict[str, Any]]:
    return list(AuthEvent.objects.order_by("id").values())


def _secrets(events: Any) -> list[str]:
    """Every token link, token and password hash the tour's events carried."""
    found: list[str] = []
    for e in events:
        if "url" in e.kwargs:
            found.append(str(e.kwargs["url"]))
            found += parse_qs(urlsplit(str(e.kwargs["url"])).query)["token"]
        hashed = getattr(e.kwargs.get("user"), "hashed_password", None)
        if hashed:
            found.append(hashed)
    return found


async def test_the_tour_leaves_one_row_per_event_and_the_admin_shows_them(
    regstack_client: httpx.AsyncClient,
) -> None:
    rs = regstack_django.get_regstack()
    with capture_events() as events:
        result = await run_tour(regstack_client, rs, say=lambda line: None)
    await sync_to_async(writer.flush)()  # the rows are written off the request
    rows = await _rows()

    assert Counter(row["event"] for row in rows) == EXPECTED_COUNTS
    assert [row["event"] for row in rows] == events.events
    for row, fired in zip(rows, events, strict=True):
        user = fired.kwargs.get("user")
        assert row["user_id"] == ("" if user is None else str(user.id))
        assert len(row["event_id"]) == 32
        # the request each event was fired in (served through the bridge's ASGI application)
        context = row["context"]
        assert context["client_ip"] == row["client_ip"] == "127.0.0.1"
        assert context["user_agent"].startswith("python-httpx/")
        assert context["path"].startswith("/api/auth/")
        assert context["method"] in {"GET", "POST", "DELETE"}
        assert context["request_id"]
    verified = next(row for row in rows if row["event"] == "user_verified")
    assert (verified["user_id"], verified["email"]) == (result.main_user_id, result.email)
    phone = next(row for row in rows if row["event"] == "phone_setup_started")
    assert phone["details"] == {"phone": "+*******0123"}
    linked = next(row for row in rows if row["event"] == "oauth_account_linked")
    assert linked["details"] == {"provider": STANDIN_PROVIDER}
    signed_in = [row["details"] for row in rows if row["event"] == "oauth_signin_completed"]
    assert [d["mode"] for d in signed_in] == ["signin", "link"]

    secrets = _secrets(events)
    assert len(secrets) >= 6, "no token went by: the check would prove nothing"
    stored = repr(rows)
    assert not [s[:10] for s in secrets if s in stored]
    assert "$argon2" not in stored

    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "admin", "admin@example.com", "pw"
    )
    client = AsyncClient()
    await client.aforce_login(admin)
    dashboard = await client.get(DASHBOARD)
    changelist = await client.get(CHANGELIST)
    searched = await client.get(CHANGELIST, {"q": result.email})
    filtered = await client.get(CHANGELIST, {"event": "user_logged_in"})
    for response in (dashboard, changelist, searched, filtered):
        assert response.status_code == 200
    page = dashboard.content.decode()
    total = sum(EXPECTED_COUNTS.values())
    assert page.count("<svg") >= 2
    assert f'aria-label="Last 24 hours: {total} events, 0 failed sign-ins' in page
    assert f'<strong class="count">{total}</strong> events' in page
    logins = EXPECTED_COUNTS["user_logged_in"]
    assert f'?event=user_logged_in">user_logged_in</a></td><td class="n">{logins}</td>' in page
    assert DASHBOARD in changelist.content.decode()
    assert f"{EXPECTED_COUNTS['user_logged_in']} auth events" in filtered.content.decode()
    for response in (dashboard, changelist, searched, filtered):
        text = response.content.decode()
        assert not [s[:10] for s in secrets if s in text]


async def test_a_failed_sign_in_over_http_is_stored_with_its_reason_and_address(
    regstack_client: httpx.AsyncClient,
) -> None:
    password = "not-the-password-1"
    response = await regstack_client.post(
        "/api/auth/login",
        json={"email": "nobody@example.com", "password": password},
        headers={"X-Forwarded-For": "198.51.100.9"},  # not from a trusted proxy: ignored
    )
    assert response.status_code == 401
    await sync_to_async(writer.flush)()
    (row,) = await _rows()
    assert (row["event"], row["email"], row["details"]) == (
        "login_failed",
        "nobody@example.com",
        {"reason": "invalid_credentials"},
    )
    assert row["client_ip"] == "127.0.0.1"
    assert row["context"]["request_id"] == response.headers["X-Request-ID"]
    assert password not in repr(row)
