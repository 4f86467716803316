"""The tour in ``support/tour/`` fires all 20 regstack events, against bare regstack.

No Django here: this proves the tour itself (and pins the event payloads the
Django bridge relies on, as listed in ``REGSTACK_EVENTS.md``) independently of
regstack_django. The test touches no Django database, so it also runs under
pytest-django.
"""

from __future__ import annotations

from collections import Counter
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from regstack.hooks.events import KNOWN_EVENTS
from regstack.models.user import BaseUser

from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack
from support.tour.provider import STANDIN_PROVIDER
from support.tour.steps import EXPECTED_COUNTS, run_tour

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from regstack import RegStack

pytestmark = [pytest.mark.asyncio]

Fired = list[tuple[str, dict[str, Any]]]

# Keyword-argument names per event, as observed in REGSTACK_EVENTS.md.
# oauth_signin_started differs by mode and is checked separately.
EXPECTED_KWARGS: dict[str, set[str]] = {
    "verification_requested": {"email", "url", "url_without_token"},
    "user_verified": {"user"},
    "user_registered": {"user"},
    "user_logged_in": {"user"},
    "user_logged_out": {"user"},
    "password_changed": {"user"},
    "password_reset_requested": {"user", "url", "url_without_token"},
    "password_reset_completed": {"user"},
    "email_change_requested": {"user", "new_email", "url", "url_without_token"},
    "email_changed": {"user", "previous_email"},
    "phone_setup_started": {"user", "phone"},
    "mfa_enabled": {"user"},
    "mfa_login_started": {"user"},
    "phone_setup_disabled": {"user"},
    "mfa_disabled": {"user"},
    "oauth_signin_completed": {"user", "provider", "mode", "was_new", "mfa_required"},
    "oauth_account_linked": {"user", "provider"},
    "oauth_account_unlinked": {"user", "provider"},
    "user_deleted": {"user"},
}
OAUTH_SIGNIN_STARTED_KWARGS = {
    "signin": {"provider", "mode"},
    "link": {"provider", "mode", "user"},
}

# How often one tour fires each event.


@pytest.fixture
def rs(regstack_database_url: str) -> RegStack:
    return build_tour_regstack(build_tour_config(regstack_database_url))


def record_events(rs: RegStack) -> Fired:
    """Subscribe one recording handler per known event; return the list it fills."""
    fired: Fired = []
    for event in sorted(KNOWN_EVENTS):

        def handler(*, _event: str = event, **kwargs: Any) -> None:
            fired.append((_event, kwargs))

        rs.on(event, handler)
    return fired


@asynccontextmanager
async def serving(rs: RegStack) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan by hand (ASGITransport sends none) and yield a client."""
    app = build_fastapi_app(rs)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


async def test_tour_fires_every_event_with_the_documented_kwargs(rs: RegStack) -> None:
    fired = record_events(rs)
    lines: list[str] = []

    async with serving(rs) as client:
        result = await run_tour(client, rs, email="alice@example.com", say=lines.append)

    assert {event for event, _ in fired} == KNOWN_EVENTS
    assert Counter(event for event, _ in fired) == EXPECTED_COUNTS
    for event, kwargs in fired:
        if event == "oauth_signin_started":
            assert set(kwargs) == OAUTH_SIGNIN_STARTED_KWARGS[kwargs["mode"]], event
        else:
            assert set(kwargs) == EXPECTED_KWARGS[event], event
        if "user" in kwargs:
            assert isinstance(kwargs["user"], BaseUser), event
        if "url_without_token" in kwargs:
            assert "[REDACTED]" in kwargs["url_without_token"], event
            assert kwargs["url_without_token"] != kwargs["url"], event

    def payloads(name: str) -> list[dict[str, Any]]:
        return [kwargs for event, kwargs in fired if event == name]

    assert [k["email"] for k in payloads("verification_requested")] == [result.email]
    assert [k["mode"] for k in payloads("oauth_signin_started")] == ["signin", "link"]
    assert [(k["mode"], k["was_new"]) for k in payloads("oauth_signin_completed")] == [
        ("signin", True),
        ("link", False),
    ]
    assert {k["provider"] for k in payloads("oauth_account_linked")} == {STANDIN_PROVIDER}
    assert [k["user"].email for k in payloads("user_registered")] == [result.oauth_email]
    assert [k["previous_email"] for k in payloads("email_changed")] == [result.email]
    assert [k["user"].id for k in payloads("user_deleted")] == [
        result.oauth_user_id,
        result.main_user_id,
    ]

    assert lines[0] == "register alice@example.com -> 201"
    assert all(200 <= status < 400 for _, _, status in result.steps)
    # One line per request, plus one for the in-process admin bootstrap.
    assert len(lines) == len(result.steps) + 1


async def test_tour_repeats_on_the_same_database(rs: RegStack) -> None:
    fired = record_events(rs)

    async with serving(rs) as client:
        first = await run_tour(client, rs, email="alice@example.com", say=lambda _: None)
        second = await run_tour(client, rs, email="bob@example.com", say=lambda _: None)

    assert first.main_user_id != second.main_user_id
    assert Counter(event for event, _ in fired) == {
        event: 2 * count for event, count in EXPECTED_COUNTS.items()
    }
