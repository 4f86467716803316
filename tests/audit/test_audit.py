"""The audit app without a server: what a row holds, the dashboard's figures, filters, prune."""

from __future__ import annotations

import datetime
import io
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.html import escape

from regstack_django import EventContext, get_registry
from regstack_django.audit import record
from regstack_django.audit.checks import check_audit_settings
from regstack_django.audit.models import AuthEvent
from regstack_django.models import OutboxEvent
from tests.utils import connected

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/regstack_audit/authevent/dashboard/"
CHANGELIST = "/admin/regstack_audit/authevent/"
TOKEN = "tok3n-" + "x" * 40
URL = f"https://example.com/verify?token={TOKEN}"


def Context(**fields: Any) -> EventContext:
    """A request's context, as the bridge's ASGI application makes it."""
    defaults = {
        "client_ip": "203.0.113.7",
        "user_agent": "pytest-agent",
        "request_id": "req-1",
        "method": "POST",
        "path": "/api/auth/login",
    }
    return EventContext(**{**defaults, **fields})


def _user(id_: int = 7, email: str = "ann@example.com") -> Any:
    return SimpleNamespace(id=id_, email=email, hashed_password="$argon2id$v=19$secret-hash")


def _row(event: str, ago: datetime.timedelta, **fields: Any) -> AuthEvent:
    return AuthEvent.objects.create(event=event, created_at=timezone.now() - ago, **fields)


def test_a_fire_stores_who_from_where_and_no_secret() -> None:
    get_registry().fire_sync(
        "email_change_requested",
        user=_user(),
        new_email="new@example.com",
        url=URL,
        url_without_token="https://example.com/verify",
        context=Context(path=f"/api/auth/verify/{TOKEN}"),
    )
    (row,) = AuthEvent.objects.all()
    assert (row.event, row.user_id, row.email, row.client_ip) == (
        "email_change_requested",
        "7",
        "ann@example.com",
        "203.0.113.7",
    )
    assert row.details == {"new_email": "new@example.com"}
    assert row.context["user_agent"] == "pytest-agent"
    assert row.context["path"] == "/api/auth/verify/[REDACTED]"  # a token in the path, scrubbed
    stored = repr(list(AuthEvent.objects.values()))
    assert TOKEN not in stored
    assert "argon2" not in stored


def test_outside_a_request_the_context_is_none() -> None:
    get_registry().fire_sync("user_logged_out", user=_user(), context=None)
    get_registry().fire_sync("user_logged_in", user=_user())
    assert list(AuthEvent.objects.values_list("context", "client_ip")) == [(None, None)] * 2


def test_a_failed_sign_in_and_a_failing_receiver_are_stored_and_on_the_dashboard(
    admin_client: Client,
) -> None:
    def broken(sender: object, **kwargs: Any) -> None:
        raise ValueError(f"could not send {kwargs['url']}")

    with connected("verification_requested", broken):
        get_registry().fire_sync(
            "verification_requested",
            email="bob@example.com",
            url=URL,
            url_without_token="https://example.com/verify",
        )
    for _ in range(3):
        get_registry().fire_sync(
            "login_failed", email="eve@example.com", reason="locked_out", context=Context()
        )
    failure = AuthEvent.objects.get(event="receiver_failed")
    assert failure.details == {
        "event": "verification_requested",
        "receiver": f"{__name__}.{broken.__qualname__}",
        "error": "builtins.ValueError",
    }
    failed = AuthEvent.objects.filter(event="login_failed")
    assert failed.count() == 3
    assert failed[0].details == {"reason": "locked_out"}
    assert failed[0].email == "eve@example.com"

    page = admin_client.get(DASHBOARD).content.decode()
    assert "Last 24 hours: 1 events, 3 failed sign-ins, 1 receiver failures" in page
    assert '<td>locked_out</td><td class="n">3</td>' in page
    assert '>203.0.113.7</a></td><td class="n">3</td>' in page
    assert "?event=login_failed&amp;client_ip=203.0.113.7" in page
    assert f"<td>{escape(f'{__name__}.{broken.__qualname__}')}</td>" in page
    assert TOKEN not in page
    assert TOKEN not in repr(list(AuthEvent.objects.values()))


def test_the_charts_count_per_hour_for_the_day_and_the_week(admin_client: Client) -> None:
    hour = datetime.timedelta(hours=1)
    for ago in (0 * hour, 0 * hour, 2 * hour):
        _row("user_logged_in", ago)
    _row("login_failed", 3 * hour)
    _row("user_registered", 30 * hour)  # the week only
    _row("user_deleted", 8 * 24 * hour)  # neither
    response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'aria-label="Last 24 hours: 3 events, 1 failed sign-ins, 0 receiver failures"' in page
    assert 'aria-label="Last 7 days: 4 events, 1 failed sign-ins, 0 receiver failures"' in page
    assert "<title>" in page
    assert ": 2 events</title>" in page  # the current hour's bar: two logins
    assert "Outbox (durable" not in page  # no durable entry, no outbox row


def test_the_dashboard_shows_the_outbox_when_it_has_rows(admin_client: Client) -> None:
    OutboxEvent.objects.create(
        event_id=uuid.uuid4(), event="user_verified", handler="myapp.hooks.welcome", message="m"
    )
    page = admin_client.get(DASHBOARD).content.decode()
    assert "Outbox (durable background handlers)" in page
    assert '<tr><th>pending</th><td class="n">1</td></tr>' in page


def test_the_dashboard_is_for_staff_only(client: Client, django_user_model: Any) -> None:
    assert client.get(DASHBOARD).status_code == 302  # to the admin's login
    user = django_user_model.objects.create_user("plain", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403  # staff without the view permission


def test_the_changelist_filters_by_event_date_and_ip_and_searches(admin_client: Client) -> None:
    _row("user_logged_in", datetime.timedelta(0), email="ann@example.com", client_ip="10.0.0.1")
    _row("login_failed", datetime.timedelta(0), email="eve@example.com", client_ip="10.0.0.2")
    _row("user_logged_in", datetime.timedelta(days=40), email="old@example.com")

    def listed(**query: str) -> set[str]:
        response = admin_client.get(CHANGELIST, query)
        assert response.status_code == 200
        rows = response.context["cl"].result_list
        return {row.email for row in rows}

    assert listed(event="login_failed") == {"eve@example.com"}
    assert listed(client_ip="10.0.0.1") == {"ann@example.com"}
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    since = str(midnight - datetime.timedelta(days=7))  # the "Past 7 days" link's value
    assert listed(created_at__gte=since) == {"ann@example.com", "eve@example.com"}
    assert listed(q="10.0.0.2") == {"eve@example.com"}
    assert listed(q="old@") == {"old@example.com"}
    page = admin_client.get(CHANGELIST).content.decode()
    assert DASHBOARD in page
    assert "By IP address" in page
    assert "10.0.0.1 (1)" in page  # the addresses of the last week, with their counts


def _prune(*args: str) -> str:
    out = io.StringIO()
    call_command("regstack_audit_prune", *args, stdout=out)
    return out.getvalue()


def test_prune_keeps_the_retention_and_dry_run_deletes_nothing() -> None:
    _row("user_logged_in", datetime.timedelta(days=100))
    _row("user_logged_in", datetime.timedelta(days=10))
    _row("user_logged_in", datetime.timedelta(0))
    assert "1 audit row(s) older than 90 days would be deleted" in _prune("--dry-run")
    assert AuthEvent.objects.count() == 3
    assert "Deleted 1 audit row(s) older than 90 days" in _prune()
    with override_settings(REGSTACK_AUDIT_RETENTION=5):
        assert "Deleted 1 audit row(s) older than 5 days" in _prune()
    assert AuthEvent.objects.count() == 1
    with override_settings(REGSTACK_AUDIT_RETENTION=None):
        assert "every row is kept" in _prune()
    assert "Deleted 0" in _prune("--days", "1")
    with pytest.raises(CommandError, match="--days must be from 1"):
        _prune("--days", "0")


@pytest.mark.parametrize("value", [0, -1, 10**6, "90", 1.5, True])
def test_a_wrong_retention_is_reported_with_its_value(value: object) -> None:
    with override_settings(REGSTACK_AUDIT_RETENTION=value):
        (found,) = check_audit_settings()
    assert found.id == "regstack_django.E060"
    assert repr(value) in found.msg
    assert "REGSTACK_AUDIT_RETENTION" in found.msg


@pytest.mark.parametrize("value", [1, 90, 36_500, None])
def test_a_good_retention_passes(value: object) -> None:
    with override_settings(REGSTACK_AUDIT_RETENTION=value):
        assert list(check_audit_settings()) == []


def test_connecting_twice_records_once() -> None:
    record.connect()
    record.connect()
    get_registry().fire_sync("user_logged_in", user=_user())
    assert AuthEvent.objects.count() == 1
