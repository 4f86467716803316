"""Background handlers through Django's Tasks framework (test backends).

The real worker (``db_worker`` in a subprocess) is in tests/project/; here the
Immediate and Dummy backends prove the contract: what is enqueued, when, and
what the handler receives.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings

from regstack_django import HookRegistry, signals
from regstack_django.background.tasks_compat import tasks_module
from regstack_django.envelope import open_envelope, seal
from regstack_django.events import EVENT_ARGUMENTS
from regstack_django.serialize import (
    PAYLOAD_VERSION,
    PayloadVersionError,
    PublicUser,
    decode,
    encode,
)
from regstack_django.testing import capture_events
from regstack_django.worker import deliver
from tests import hooks
from tests.utils import bridge_errors, connected

TOKEN_URL = "https://example.com/verify?token=live-single-use-token"
PKG = settings.TASKS_PACKAGE
IMMEDIATE = {"default": {"BACKEND": f"{PKG}.backends.immediate.ImmediateBackend"}}
DUMMY = {
    "default": {"BACKEND": f"{PKG}.backends.dummy.DummyBackend", "QUEUES": ["default", "mail"]}
}


def background(handler: str = "tests.hooks.record_background", **options: Any) -> dict[str, Any]:
    return {"handler": handler, "background": True, **options}


def opened(result: Any) -> tuple[str, bool, dict[str, Any]]:
    """``(handler, durable, payload)`` of one enqueued task: its one signed argument."""
    (message,) = result.args
    assert result.kwargs == {}
    return open_envelope(message)


def handler_of(result: Any) -> str:
    return opened(result)[0]


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    hooks.reset()
    yield
    hooks.reset()


@pytest.fixture
def dummy_results() -> Iterator[list[Any]]:
    """The Dummy backend's enqueued results, for the test's TASKS override."""
    with override_settings(TASKS=DUMMY):
        backend = tasks_module().task_backends["default"]  # type: ignore[union-attr]
        backend.clear()
        yield backend.results


def user(**overrides: Any) -> Any:
    base_user = pytest.importorskip("regstack.models.user").BaseUser
    fields = {
        "_id": "64b000000000000000000001",
        "email": "alice@example.com",
        "hashed_password": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "full_name": "Alice",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    return base_user(**{**fields, **overrides})


@override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS={"password_reset_requested": [background()]})
def test_a_background_handler_gets_json_kwargs_and_the_sender_label(
    registry: HookRegistry,
) -> None:
    registry.fire_sync(
        "password_reset_requested",
        user=user(),
        url=TOKEN_URL,
        url_without_token="https://example.com/verify?token=[REDACTED]",
    )
    [(_, name, kwargs)] = hooks.CALLS
    assert name == "record_background"
    assert kwargs["sender"] == "regstack_django.registry.HookRegistry"
    assert "url" not in kwargs
    assert kwargs["url_without_token"].endswith("[REDACTED]")
    assert isinstance(kwargs["event_id"], uuid.UUID)
    got = kwargs["user"]
    assert isinstance(got, PublicUser)
    # The same attribute API as regstack's user (timestamps as datetimes), read-only.
    assert got.email == "alice@example.com"
    assert got.id == "64b000000000000000000001"
    assert got.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert not hasattr(got, "hashed_password")
    with pytest.raises(AttributeError, match="read-only"):
        got.email = "mallory@example.com"
    assert "alice" not in repr(got)
    assert got.as_dict() == {
        "id": "64b000000000000000000001",
        "email": "alice@example.com",
        "full_name": "Alice",
        "phone_number": None,
        "is_active": True,
        "is_verified": False,
        "is_superuser": False,
        "is_mfa_enabled": False,
        "created_at": "2026-01-02T03:04:05+00:00",
        "updated_at": got.as_dict()["updated_at"],
        "last_login": None,
    }


@override_settings(
    TASKS=IMMEDIATE,
    REGSTACK_HOOKS={"password_reset_requested": [background(include_secrets=True)]},
)
def test_include_secrets_opts_in_to_the_token_url(registry: HookRegistry) -> None:
    registry.fire_sync(
        "password_reset_requested", user=user(), url=TOKEN_URL, url_without_token="x"
    )
    assert hooks.CALLS[0][2]["url"] == TOKEN_URL


@pytest.mark.django_db
def test_on_commit_enqueues_when_the_transaction_commits(
    registry: HookRegistry,
    dummy_results: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        override_settings(REGSTACK_HOOKS={"user_registered": [background()]}),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        transaction.atomic(),
    ):
        registry.fire_sync("user_registered", user=user())
        assert dummy_results == []
    # the capture collects (and here runs) the callbacks when its block exits
    assert len(callbacks) == 1
    assert len(dummy_results) == 1
    assert handler_of(dummy_results[0]) == "tests.hooks.record_background"


@pytest.mark.django_db
def test_a_rollback_enqueues_nothing(
    registry: HookRegistry,
    dummy_results: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        override_settings(REGSTACK_HOOKS={"user_registered": [background()]}),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        registry.fire_sync("user_registered", user=user())
        1 / 0  # noqa: B018
    assert callbacks == []
    assert dummy_results == []


@pytest.mark.django_db
def test_on_commit_false_enqueues_inside_the_transaction(
    registry: HookRegistry, dummy_results: list[Any]
) -> None:
    with (
        override_settings(REGSTACK_HOOKS={"user_registered": [background(on_commit=False)]}),
        transaction.atomic(),
    ):
        registry.fire_sync("user_registered", user=user())
        assert len(dummy_results) == 1


def test_outside_a_transaction_it_enqueues_at_once_once_per_handler(
    registry: HookRegistry, dummy_results: list[Any]
) -> None:
    entries = [background(), background("tests.hooks.record_sync")]
    with override_settings(REGSTACK_HOOKS={"user_registered": entries}):
        registry.fire_sync("user_registered", user=user())
    assert sorted(handler_of(r) for r in dummy_results) == [
        "tests.hooks.record_background",
        "tests.hooks.record_sync",
    ]


async def test_from_regstack_routes_it_enqueues_on_the_bridges_own_thread(
    registry: HookRegistry, dummy_results: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain event loop (regstack's routes): not asgiref's thread, not the receivers'."""
    threads: list[str] = []
    backend_class = tasks_module().task_backends["default"].__class__  # type: ignore[union-attr]
    real_enqueue = backend_class.enqueue

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real_enqueue(self, *args, **kwargs)

    monkeypatch.setattr(backend_class, "enqueue", spy)
    with override_settings(REGSTACK_HOOKS={"user_registered": [background()]}):
        await registry.fire("user_registered", user=user())
    assert len(threads) == 1
    assert threads[0].startswith("regstack-enqueue")
    assert len(dummy_results) == 1


def test_task_options_reach_the_backend(registry: HookRegistry, dummy_results: list[Any]) -> None:
    with override_settings(
        REGSTACK_HOOKS={"user_registered": [background(queue_name="mail", backend="default")]}
    ):
        registry.fire_sync("user_registered", user=user())
    assert dummy_results[0].task.queue_name == "mail"


def test_an_unserialisable_value_is_an_error_naming_event_and_kwarg_not_value(
    registry: HookRegistry, dummy_results: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    class Secretive:
        def __repr__(self) -> str:
            return "SECRET-VALUE"

    got: list[str] = []
    with (
        override_settings(REGSTACK_HOOKS={"user_registered": [background()]}),
        connected(signals.user_registered, lambda sender, **kw: got.append("inline")),
    ):
        assert registry.fire_sync("user_registered", user=user(), extra=Secretive()) is None
    assert got == ["inline"]
    assert dummy_results == []
    [record] = bridge_errors(caplog)
    assert record.exc_info is not None
    message = str(record.exc_info[1])
    assert "'user_registered'" in message
    assert "'extra'" in message
    assert "SECRET-VALUE" not in caplog.text


def test_a_handler_that_raises_fails_the_task_in_the_backend(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL)  # the backend logs the failure itself
    payload = encode("user_registered", object(), {"user": user()})
    entry = background("tests.hooks.raises_in_worker")
    with override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS={"user_registered": [entry]}):
        result = deliver.enqueue(seal("tests.hooks.raises_in_worker", False, payload))
    assert result.status == "FAILED"
    assert result.errors[0].exception_class_path == "builtins.RuntimeError"


def test_the_payload_carries_a_version_and_a_newer_one_fails_clearly() -> None:
    payload = encode("user_registered", object(), {"user": user()})
    assert payload["version"] == PAYLOAD_VERSION == 2
    assert json.loads(json.dumps(payload)) == payload
    with pytest.raises(PayloadVersionError, match=r"versions \[1, 2\].*version 3"):
        decode({**payload, "version": 3})
    # Version 1 (no event_id) is still read.
    v1 = {k: v for k, v in payload.items() if k != "event_id"} | {"version": 1}
    event, event_id, _, kwargs = decode(v1)
    assert (event, event_id, kwargs["user"].email) == ("user_registered", None, "alice@example.com")
    with override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS={"user_registered": [background()]}):
        result = deliver.enqueue(
            seal("tests.hooks.record_background", False, {**payload, "version": 3})
        )
    assert result.status == "FAILED"
    assert hooks.CALLS == []


def test_each_fire_gets_its_own_event_id(registry: HookRegistry, dummy_results: list[Any]) -> None:
    with override_settings(REGSTACK_HOOKS={"user_registered": [background()]}):
        registry.fire_sync("user_registered", user=user())
        registry.fire_sync("user_registered", user=user())
    ids = [opened(r)[2]["event_id"] for r in dummy_results]
    assert len(set(ids)) == 2
    assert all(uuid.UUID(i) for i in ids)


def test_the_background_entries_of_one_fire_share_its_event_id(
    registry: HookRegistry, dummy_results: list[Any]
) -> None:
    with override_settings(
        REGSTACK_HOOKS={
            "user_registered": [background(), background("tests.hooks.raises_in_worker")]
        }
    ):
        registry.fire_sync("user_registered", user=user())
        registry.fire_sync("user_registered", user=user())
    fired = [(opened(r)[0], opened(r)[2]["event_id"]) for r in dummy_results]
    assert [handler for handler, _ in fired] == [
        "tests.hooks.record_background",
        "tests.hooks.raises_in_worker",
    ] * 2
    first, second = {i for _, i in fired[:2]}, {i for _, i in fired[2:]}
    assert len(first) == len(second) == 1
    assert first != second


async def test_the_entries_of_one_async_fire_share_its_event_id(
    registry: HookRegistry, dummy_results: list[Any]
) -> None:
    with override_settings(
        REGSTACK_HOOKS={
            "user_registered": [background(), background("tests.hooks.raises_in_worker")]
        }
    ):
        await registry.fire("user_registered", user=user())
    assert len(dummy_results) == 2
    ids = {opened(r)[2]["event_id"] for r in dummy_results}
    assert len(ids) == 1


def test_an_async_background_handler_runs_in_the_worker(registry: HookRegistry) -> None:
    with override_settings(
        TASKS=IMMEDIATE,
        REGSTACK_HOOKS={"user_registered": [background("tests.hooks.record_async")]},
    ):
        registry.fire_sync("user_registered", user=user())
    assert [name for _, name, _ in hooks.CALLS] == ["record_async"]


async def test_every_known_event_as_regstack_sends_it_serialises_without_secrets(
    tmp_path: Any, dummy_results: list[Any]
) -> None:
    """One real tour, a background handler on all 20 events: what enters the queue."""
    pytest.importorskip("regstack")
    import httpx

    from regstack_django import KNOWN_EVENTS, attach
    from support.tour import steps as tour
    from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack

    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{tmp_path}/rs.db"))
    app = build_fastapi_app(rs)
    hooks_setting = {event: [background()] for event in KNOWN_EVENTS}
    token_events = [e for e, (arguments, _) in EVENT_ARGUMENTS.items() if "url" in arguments]
    with (
        override_settings(REGSTACK_HOOKS=hooks_setting),
        capture_events(*token_events) as fired,
    ):
        async with app.router.lifespan_context(app):
            attach(rs)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await tour.run_tour(client, rs, say=lambda line: None)
    payloads = [opened(r)[2] for r in dummy_results]
    assert sorted({p["event"] for p in payloads}) == sorted(KNOWN_EVENTS)
    assert len(payloads) == sum(tour.EXPECTED_COUNTS.values())
    queued = json.dumps(payloads)
    token_urls = [f.kwargs["url"] for f in fired]
    assert len(token_urls) == 3
    for url in token_urls:
        assert url not in queued
        assert url.split("token=")[1] not in queued
    assert "hashed_password" not in queued
    assert "$argon2" not in queued
    for payload in payloads:
        assert payload["sender"] == "regstack.app.RegStack"
        assert payload["version"] == PAYLOAD_VERSION
