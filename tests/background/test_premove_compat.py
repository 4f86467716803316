"""A task and an outbox row written by the code before the layout moves are delivered after them.

The fixtures were written once at commit 3970074 by fixtures/make_premove.py (see its
docstring), under tests.settings: same SECRET_KEY, same handler path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils.module_loading import import_string

from regstack_django import HookRegistry, envelope
from regstack_django.background.tasks_compat import tasks_module
from regstack_django.models import OutboxEvent
from regstack_django.serialize import PublicUser
from regstack_django.worker import deliver
from tests import hooks

FIXTURES = Path(__file__).parent / "fixtures"
HANDLER = "tests.hooks.record_background"
QUEUES = ["default", "mail"]
PKG = settings.TASKS_PACKAGE
IMMEDIATE = {"default": {"BACKEND": f"{PKG}.backends.immediate.ImmediateBackend", "QUEUES": QUEUES}}
DUMMY = {"default": {"BACKEND": f"{PKG}.backends.dummy.DummyBackend", "QUEUES": QUEUES}}
QUEUED = {"user_registered": [{"handler": HANDLER, "background": True, "queue_name": "mail"}]}
DURABLE = {"user_registered": [{"handler": HANDLER, "background": True, "durable": True}]}


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    hooks.reset()
    yield
    hooks.reset()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data.pop("made_at_commit").startswith("3970074")
    assert data.pop("secret_key") == settings.SECRET_KEY  # the signatures depend on it
    return data


def the_one_call(email: str) -> dict[str, Any]:
    [(event, name, kwargs)] = hooks.CALLS
    assert (event, name) == ("user_registered", "record_background")
    assert kwargs["sender"] == "regstack_django.registry.HookRegistry"
    assert isinstance(kwargs["user"], PublicUser)
    assert kwargs["user"].email == email
    assert kwargs["user"].full_name == "Pre Move"
    assert not hasattr(kwargs["user"], "hashed_password")
    return kwargs


def test_the_signing_salt_is_unchanged() -> None:
    assert envelope.SALT == "regstack_django.background.v2"


@override_settings(TASKS=DUMMY, REGSTACK_HOOKS=QUEUED)
def test_a_new_task_stores_the_path_the_old_code_stored(registry: HookRegistry) -> None:
    backend = tasks_module().task_backends["default"]  # type: ignore[union-attr]
    backend.clear()
    base_user = pytest.importorskip("regstack.models.user").BaseUser
    registry.fire_sync(
        "user_registered", user=base_user(email="new@example.com", hashed_password="h")
    )
    [result] = backend.results
    assert result.task.module_path == fixture("premove_task.json")["task_path"]
    assert result.task.module_path == "regstack_django.worker.deliver"
    assert import_string(result.task.module_path) is deliver


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=QUEUED)
def test_a_task_queued_by_the_old_code_runs_through_its_stored_path() -> None:
    """Resolved as django-tasks-db's worker does: import the path, insist on a Task, call it."""
    row = fixture("premove_task.json")
    task = import_string(row["task_path"])
    assert isinstance(task, import_string(f"{PKG}.base.Task"))
    task = task.using(
        queue_name=row["queue_name"], priority=row["priority"], backend=row["backend_name"]
    )
    task.call(*row["args_kwargs"]["args"], **row["args_kwargs"]["kwargs"])
    kwargs = the_one_call("queued@example.com")
    message = envelope.open_envelope(row["args_kwargs"]["args"][0])
    assert kwargs["event_id"] == uuid.UUID(message[2]["event_id"])


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=DURABLE)
def test_an_outbox_row_written_by_the_old_code_is_relayed_and_delivered() -> None:
    row = fixture("premove_outbox.json")
    dates = ("created_at", "available_at", "delivered_at")
    OutboxEvent.objects.create(
        **{k: datetime.fromisoformat(v) if k in dates and v else v for k, v in row.items()}
    )
    call_command("regstack_relay", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115
    kwargs = the_one_call("durable@example.com")
    assert kwargs["event_id"] == uuid.UUID(row["event_id"])
    stored = OutboxEvent.objects.get()
    assert (stored.attempts, stored.last_error) == (1, "")
    assert stored.delivered_at is not None
