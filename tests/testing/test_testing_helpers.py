"""``regstack_django.testing``: capture_events() and muted(), as a project's tests use them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import override_settings

from regstack_django import KNOWN_EVENTS, HookRegistry, signals
from regstack_django.hooks.introspect import signal_receivers
from regstack_django.registry import fire_observers
from regstack_django.testing import CapturedEvent, CapturedEvents, capture_events, muted
from tests import hooks
from tests.utils import connected

USER = SimpleNamespace(email="ada@example.com")
SIGNALS = {event: signals.signal_for(event) for event in KNOWN_EVENTS}


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    hooks.reset()
    before = list(fire_observers)
    yield
    hooks.reset()
    assert fire_observers == before, "a helper left an observer behind"


def recorder() -> tuple[list[str], Any]:
    ran: list[str] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        ran.append(next(e for e, s in SIGNALS.items() if s is kwargs["signal"]))

    return ran, receiver


def test_capture_records_fire_sync_with_event_sender_and_kwargs(registry: HookRegistry) -> None:
    with capture_events() as captured:
        registry.fire_sync("user_registered", user=USER)
        registry.fire_sync("email_changed", user=USER, previous_email="old@example.com")

    assert isinstance(captured, CapturedEvents)
    assert captured == [
        CapturedEvent("user_registered", registry, {"user": USER}),
        CapturedEvent(
            "email_changed", registry, {"user": USER, "previous_email": "old@example.com"}
        ),
    ]
    assert captured.events == ["user_registered", "email_changed"]
    assert [r.kwargs["previous_email"] for r in captured.of("email_changed")] == ["old@example.com"]
    assert captured.of("user_deleted") == []


async def test_capture_records_async_fire(registry: HookRegistry) -> None:
    with capture_events() as captured:
        await registry.fire("user_logged_in", user=USER)
        await registry.fire("custom_event_for_capture", answer=42)

    assert captured.events == ["user_logged_in", "custom_event_for_capture"]
    assert captured[0].sender is registry
    assert captured.of("custom_event_for_capture")[0].kwargs == {"answer": 42}


def test_capture_filters_by_event_name(registry: HookRegistry) -> None:
    with capture_events("user_logged_in", "user_logged_out") as captured:
        registry.fire_sync("user_registered", user=USER)
        registry.fire_sync("user_logged_in", user=USER)
        registry.fire_sync("user_logged_out", user=USER)

    assert captured.events == ["user_logged_in", "user_logged_out"]


def test_capture_does_not_stop_receivers_and_copies_kwargs(registry: HookRegistry) -> None:
    ran, receiver = recorder()
    with connected(signals.user_registered, receiver), capture_events() as captured:
        registry.fire_sync("user_registered", user=USER)

    assert ran == ["user_registered"]
    record = captured[0]
    assert "signal" not in record.kwargs
    assert "sender" not in record.kwargs
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.event = "changed"  # type: ignore[misc]


def test_capture_stops_recording_when_the_block_ends(registry: HookRegistry) -> None:
    with capture_events() as captured:
        registry.fire_sync("user_registered", user=USER)
    registry.fire_sync("user_registered", user=USER)

    assert len(captured) == 1


def test_observers_are_removed_even_when_the_block_raises(registry: HookRegistry) -> None:
    before = list(fire_observers)

    def fail_inside(captured: list[CapturedEvents]) -> None:
        with capture_events() as records, muted():
            captured.append(records)
            assert len(fire_observers) == len(before) + 2
            registry.fire_sync("user_registered", user=USER)
            raise ZeroDivisionError

    blocks: list[CapturedEvents] = []
    with pytest.raises(ZeroDivisionError):
        fail_inside(blocks)
    (captured,) = blocks

    assert fire_observers == before
    ran, receiver = recorder()
    with connected(signals.user_registered, receiver):
        registry.fire_sync("user_registered", user=USER)
    assert ran == ["user_registered"], "muted() still muting after its block"
    assert len(captured) == 1


def test_nested_captures_each_see_their_own_block(registry: HookRegistry) -> None:
    with capture_events() as outer:
        registry.fire_sync("user_registered", user=USER)
        with capture_events("user_logged_in") as inner:
            registry.fire_sync("user_logged_in", user=USER)
            registry.fire_sync("user_logged_out", user=USER)
        registry.fire_sync("user_deleted", user=USER)

    assert outer.events == ["user_registered", "user_logged_in", "user_logged_out", "user_deleted"]
    assert inner.events == ["user_logged_in"]


def test_capture_sees_fires_from_other_threads(registry: HookRegistry) -> None:
    def fire_many() -> None:
        for _ in range(50):
            registry.fire_sync("user_logged_in", user=USER)

    with capture_events("user_logged_in") as captured:
        threads = [threading.Thread(target=fire_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(captured) == 400


def test_muted_stops_receivers_and_settings_handlers_but_is_captured(
    registry: HookRegistry,
) -> None:
    ran, receiver = recorder()
    setting = {"user_registered": ["tests.hooks.record_sync", "tests.hooks.record_async"]}
    with (
        override_settings(REGSTACK_HOOKS=setting),
        connected(signals.user_registered, receiver),
        capture_events() as captured,
    ):
        with muted("user_registered"):
            registry.fire_sync("user_registered", user=USER)
        assert ran == []
        assert hooks.CALLS == []

        registry.fire_sync("user_registered", user=USER)
        assert ran == ["user_registered"]
        assert [name for _event, name, _kwargs in hooks.CALLS] == ["record_sync", "record_async"]

    assert captured.events == ["user_registered", "user_registered"]


async def test_muted_stops_async_fires_too(registry: HookRegistry) -> None:
    ran, receiver = recorder()
    with connected(signals.user_registered, receiver), capture_events() as captured, muted():
        await registry.fire("user_registered", user=USER)

    assert ran == []
    assert captured.events == ["user_registered"]


def test_muted_only_mutes_the_named_events(registry: HookRegistry) -> None:
    seen: list[str] = []

    def on_login(sender: object, **kwargs: Any) -> None:
        seen.append("user_logged_in")

    def on_logout(sender: object, **kwargs: Any) -> None:
        seen.append("user_logged_out")

    with (
        connected(signals.user_logged_in, on_login),
        connected(signals.user_logged_out, on_logout),
        muted("user_logged_in"),
    ):
        registry.fire_sync("user_logged_in", user=USER)
        registry.fire_sync("user_logged_out", user=USER)

    assert seen == ["user_logged_out"]


def test_muted_with_no_names_mutes_registry_on_handlers() -> None:
    registry = HookRegistry()  # on() connects for this sender only
    seen: list[dict[str, Any]] = []
    registry.on("user_verified", lambda **kwargs: seen.append(kwargs))
    try:
        with muted():
            registry.fire_sync("user_verified", user=USER)
        assert seen == []
        registry.fire_sync("user_verified", user=USER)
        assert seen == [{"user": USER}]
    finally:
        # on() keeps its adapter; disconnecting each receiver for this sender drops it.
        for connection in signal_receivers(signals.user_verified):
            signals.user_verified.disconnect(connection.receiver, sender=registry.sender)
    assert not signals.user_verified.has_listeners(registry.sender)


@pytest.mark.parametrize("helper", [capture_events, muted])
def test_helpers_refuse_what_is_not_an_event_name(helper: Any) -> None:
    with pytest.raises(TypeError, match="event names"), helper(signals.user_registered):
        pass


@pytest.mark.regstack
async def test_capture_sees_events_from_a_real_attached_regstack(tmp_path: Path) -> None:
    pytest.importorskip("regstack")
    import httpx

    import regstack_django
    from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack

    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{tmp_path}/rs.db"))
    app = build_fastapi_app(rs)
    regstack_django.attach(rs)
    ran, receiver = recorder()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        with (
            connected(signals.verification_requested, receiver),
            capture_events("verification_requested") as captured,
            muted(),
        ):
            response = await client.post(
                "/api/auth/register",
                json={"email": "ada@example.com", "password": "a-long-password-1"},
            )

    assert response.status_code == 201, response.text
    (record,) = captured
    assert record.event == "verification_requested"
    assert record.sender is rs
    assert record.kwargs["email"] == "ada@example.com"
    assert set(record.kwargs) == {"email", "url", "url_without_token"}
    assert ran == [], "muted() let a receiver of the real regstack's event run"


def broken_mailer(sender: object, **kwargs: Any) -> None:
    raise RuntimeError("the mail server is down")


@pytest.mark.regstack
@pytest.mark.usefixtures("regstack_fail_loud")
async def test_fail_loud_fails_a_real_regstack_request_naming_the_receiver(
    tmp_path: Path,
) -> None:
    pytest.importorskip("regstack")
    import httpx

    import regstack_django
    from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack

    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{tmp_path}/rs.db"))
    app = build_fastapi_app(rs)
    regstack_django.attach(rs)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        with (
            connected(signals.verification_requested, broken_mailer),
            pytest.raises(ExceptionGroup) as raised,
        ):
            await client.post(
                "/api/auth/register",
                json={"email": "ada@example.com", "password": "a-long-password-1"},
            )

    assert f"{__name__}.broken_mailer" in str(raised.value)
    assert "'verification_requested'" in str(raised.value)
    assert [type(e) for e in raised.value.exceptions] == [RuntimeError]
