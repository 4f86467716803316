"""The outbox in the Django admin: rows, attempts, last error, never the message; Retry now."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from regstack_django.models import OutboxEvent

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
    pending = admin_client.get(url, {"delivered": "no"}).content.decode()
    assert pending.count("send_welcome_email") < page.count("send_welcome_email")
    detail = admin_client.get(
        reverse("admin:regstack_django_outboxevent_change", args=[OutboxEvent.objects.first().pk])  # type: ignore[union-attr]
    ).content.decode()
    assert "SIGNED-MESSAGE-NEVER-SHOWN" not in detail


def test_retry_now_makes_pending_rows_due(admin_client: Any) -> None:
    later = timezone.now() + timedelta(hours=1)
    pending = row(available_at=later, attempts=5)
    done = row(available_at=later, delivered_at=timezone.now())
    response = admin_client.post(
        reverse("admin:regstack_django_outboxevent_changelist"),
        {"action": "retry_now", "_selected_action": [pending.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    pending.refresh_from_db()
    done.refresh_from_db()
    assert pending.available_at <= timezone.now()
    assert done.available_at == later  # a delivered row is not touched
