"""The outbox in the Django admin: status, runs, due, last error, never the message; Retry now.

"Visible at 1280 px" is pinned as a column budget: seven short columns, the error cut at 90.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from regstack_django.background import outbox
from regstack_django.models import OutboxEvent, RelayHeartbeat

pytestmark = pytest.mark.django_db


def row(**fields: Any) -> OutboxEvent:
    base = {
        "event_id": uuid.uuid4(),
        "event": "user_verified",
        "handler": "testproject.audit.hooks.send_welcome_email",
        "message": "SIGNED-MESSAGE-NEVER-SHOWN:sig",
    }
    return OutboxEvent.objects.create(**{**base, **fields})


def test_the_changelist_shows_rows_attempts_and_errors_but_not_the_message(
    admin_client: Any,
) -> None:
    row(attempts=3, last_error="redis.exceptions.ConnectionError: Connection refused.")
    row(delivered_at=timezone.now())
    url = reverse("admin:regstack_django_outboxevent_changelist")
    page = admin_client.get(url).content.decode()
    assert "user_verified" in page
    assert "send_welcome_email" in page
    assert "ConnectionError" in page
    assert "SIGNED-MESSAGE-NEVER-SHOWN" not in page
    pending = admin_client.get(url, {"status": "pending"}).content.decode()
    assert pending.count("send_welcome_email") < page.count("send_welcome_email")
    detail = admin_client.get(
        reverse("admin:regstack_django_outboxevent_change", args=[OutboxEvent.objects.first().pk])  # type: ignore[union-attr]
    ).content.decode()
    assert "SIGNED-MESSAGE-NEVER-SHOWN" not in detail


def test_retry_now_makes_pending_and_dead_rows_due(admin_client: Any) -> None:
    later = timezone.now() + timedelta(hours=1)
    pending = row(available_at=later, attempts=5)
    dead = row(available_at=later, attempts=20, failures=20, dead_at=timezone.now())
    done = row(available_at=later, delivered_at=timezone.now())
    response = admin_client.post(
        reverse("admin:regstack_django_outboxevent_changelist"),
        {"action": "retry_now", "_selected_action": [pending.pk, dead.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 row(s) due now." in response.content.decode()
    for each in (pending, dead, done):
        each.refresh_from_db()
    assert pending.available_at <= timezone.now()
    assert (dead.status(), dead.failures, dead.available_at <= timezone.now()) == (
        "pending",
        0,
        True,
    )
    assert done.available_at == later  # a delivered row is not touched


def _cells(page: str) -> list[list[str]]:
    """Return the text of each result row's cells (the checkbox column left out)."""
    body = page.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
        ][1:]
        for r in rows
    ]


def test_one_status_column_with_runs_due_and_error_in_seven_short_columns(
    admin_client: Any,
) -> None:
    now = timezone.now()
    soon = now + timedelta(minutes=5)
    long_error = "builtins.RuntimeError: " + "x" * 500
    row(available_at=now - timedelta(seconds=1))  # pending
    row(available_at=soon, attempts=1)  # handed out
    row(available_at=soon, attempts=1, delivered_at=now)  # delivered: no future due time
    row(available_at=soon, attempts=2, failures=2, last_error=long_error)  # failing
    row(available_at=soon, attempts=3, failures=3, dead_at=now, last_error="boom")  # dead
    page = admin_client.get(reverse("admin:regstack_django_outboxevent_changelist")).content
    cells = _cells(page.decode())
    assert all(len(c) == 7 for c in cells)  # id, status, event, handler, runs, due, last error
    by_status = {c[1]: c for c in reversed(cells)}
    assert set(by_status) == {"pending", "handed out", "delivered", "failing", "dead"}
    assert by_status["delivered"][5] == "-"
    assert by_status["dead"][5] == "-"
    assert by_status["handed out"][5] == timezone.localtime(soon).strftime("%Y-%m-%d %H:%M:%S")
    assert by_status["failing"][4] == "2/2"
    assert by_status["failing"][3] == "send_welcome_email"  # the dotted path is on the detail page
    assert by_status["failing"][6].startswith("builtins.RuntimeError: xxx")
    assert len(by_status["failing"][6]) <= 90
    assert max(sum(len(text) for text in c) for c in cells) < 200  # fits 1280 px


def test_the_changelist_warns_when_no_relay_was_seen_and_rows_are_overdue(
    admin_client: Any,
) -> None:
    row(available_at=timezone.now() - timedelta(hours=1))
    url = reverse("admin:regstack_django_outboxevent_changelist")
    page = admin_client.get(url).content.decode()
    assert "1 outbox row(s) have been due for more than 300s" in page
    assert "No relay has been seen for 300s (never)" in page
    RelayHeartbeat.objects.create(relay="host:1")
    OutboxEvent.objects.update(available_at=timezone.now())
    page = admin_client.get(url).content.decode()
    assert "No relay has been seen" not in page
    assert "have been due" not in page


def _forms(token: str, url: str) -> dict[str, str]:
    raw = token.encode()
    return {
        "raw": token,
        "percent": quote(url, safe=""),
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "JSON-escaped": json.dumps(url + "\u00e9")[1:-1],
        "HTML-escaped": html.escape(url + "&x=1"),
    }


def test_a_failing_include_secrets_handler_shows_no_token_in_the_admin(admin_client: Any) -> None:
    token = secrets.token_urlsafe(32)
    url = f"https://example.com/reset-password?token={token}"
    forms = _forms(token, url)
    for name, written in forms.items():
        failing = row(event="password_reset_requested", handler=f"mysite.hooks.quoting_{name}")
        # What the worker writes when an include_secrets handler raises quoting the link.
        outbox.record_failure(
            failing.event_id,
            failing.handler,
            RuntimeError(f"could not send {written}"),
            {"url": url, "user": {"email": "a@example.com"}},
        )
    pages = [admin_client.get(reverse("admin:regstack_django_outboxevent_changelist"))]
    pages += [
        admin_client.get(reverse("admin:regstack_django_outboxevent_change", args=[pk]))
        for pk in OutboxEvent.objects.values_list("pk", flat=True)
    ]
    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert "could not send" in text  # the error is shown, redacted
        leaked = [name for name, written in forms.items() if token in text or written in text]
        assert not leaked, leaked
