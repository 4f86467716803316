"""``manage.py regstack_hooks``: what a developer sees when asking "what runs on this event?"."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from regstack_django import KNOWN_EVENTS, HookRegistry, signals
from regstack_django.checks.messages import E004, as_text
from regstack_django.checks.registered import check_hooks_setting
from regstack_django.hooks import wiring
from regstack_django.hooks.introspect import signal_receivers

BACKGROUND = {"handler": "tests.hooks.record_async", "background": True}


def on_logout(sender: object, **kwargs: Any) -> None: ...


async def on_logout_async(sender: object, **kwargs: Any) -> None: ...


def listing(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("regstack_hooks", "--json", *args, stdout=out)
    rows: list[dict[str, Any]] = json.loads(out.getvalue())
    return rows


def receivers_of(event: str) -> list[dict[str, str]]:
    (row,) = listing(event)
    assert row["event"] == event
    return list(row["receivers"])


@pytest.fixture
def weakly_connected() -> Iterator[None]:
    """Connect as ``@receiver`` does (weakly), and always disconnect."""
    signals.user_logged_out.connect(on_logout)
    signals.user_logged_out.connect(on_logout_async)
    yield
    signals.user_logged_out.disconnect(on_logout)
    signals.user_logged_out.disconnect(on_logout_async)


def test_json_lists_every_known_event_sorted_with_its_receivers() -> None:
    rows = listing()
    events = [row["event"] for row in rows]
    assert events[: len(KNOWN_EVENTS)] == sorted(KNOWN_EVENTS)
    assert events[len(KNOWN_EVENTS)] == "login_failed", "then the bridge's own event"
    custom = events[len(KNOWN_EVENTS) + 1 :]
    assert custom == sorted(custom), "custom events (with receivers) follow, sorted"
    assert all(set(row) == {"event", "receivers"} for row in rows)


def test_settings_handlers_are_listed_as_settings_with_kind_and_delivery() -> None:
    setting = {
        "user_registered": ["tests.hooks.record_sync"],
        "user_logged_in": [BACKGROUND, {"handler": "tests.hooks.slow_async", "timeout": 1}],
    }
    with override_settings(REGSTACK_HOOKS=setting):
        registered = receivers_of("user_registered")
        logged_in = receivers_of("user_logged_in")

    assert registered == [
        {
            "name": "tests.hooks.record_sync",
            "kind": "sync",
            "delivery": "inline",
            "source": "settings",
            "options": {},
        }
    ]
    assert logged_in == [
        {
            "name": "tests.hooks.record_async",
            "kind": "async",
            "delivery": "background",
            "source": "settings",
            "options": {},
        },
        {
            "name": "tests.hooks.slow_async",
            "kind": "async",
            "delivery": "inline",
            "source": "settings",
            "options": {"timeout": 1},
        },
    ]
    assert receivers_of("user_registered") == [], "the listing outlived override_settings"


def test_a_durable_entry_is_listed_as_durable_with_its_options() -> None:
    setting = {
        "user_verified": [
            {"handler": "tests.hooks.record_async", "background": True, "durable": True},
            {
                "handler": "tests.hooks.record_background",
                "background": True,
                "on_commit": False,
                "include_secrets": True,
                "priority": 5,
            },
            {"handler": "tests.hooks.record_sync", "must_run": True, "timeout": 2},
        ]
    }
    with override_settings(REGSTACK_HOOKS=setting):
        rows = receivers_of("user_verified")
        out = io.StringIO()
        call_command("regstack_hooks", "user_verified", stdout=out)
    assert [(r["delivery"], r["options"]) for r in rows] == [
        ("durable", {}),
        ("background", {"on_commit": False, "include_secrets": True, "priority": 5}),
        ("inline", {"timeout": 2, "must_run": True}),
    ]
    table = [line.split() for line in out.getvalue().splitlines()[1:4]]
    assert table[0][-2:] == ["durable", "settings"]
    assert table[1][-3:] == ["on_commit=False", "include_secrets=True", "priority=5"]
    assert table[2][-2:] == ["timeout=2", "must_run=True"]


@pytest.mark.usefixtures("weakly_connected")
def test_receiver_functions_are_listed_as_receiver_sync_or_async() -> None:
    assert receivers_of("user_logged_out") == [
        {
            "name": f"{__name__}.on_logout",
            "kind": "sync",
            "delivery": "inline",
            "source": "receiver",
            "options": {},
        },
        {
            "name": f"{__name__}.on_logout_async",
            "kind": "async",
            "delivery": "inline",
            "source": "receiver",
            "options": {},
        },
    ]


def test_a_settings_handler_also_connected_by_receiver_is_listed_once_for_each() -> None:
    from tests.hooks import record_sync

    setting = {
        "user_deleted": ["tests.hooks.record_sync"],
        "user_verified": ["tests.hooks.record_sync"],
    }
    with override_settings(REGSTACK_HOOKS=setting):
        signals.user_deleted.connect(record_sync)
        try:
            sources = [r["source"] for r in receivers_of("user_deleted")]
            other_event = [r["source"] for r in receivers_of("user_verified")]
        finally:
            signals.user_deleted.disconnect(record_sync)
    assert sources == ["settings", "receiver"]
    assert other_event == ["settings"]


def test_registry_on_handlers_are_listed_as_registry_on() -> None:
    registry = HookRegistry()

    def welcome(**kwargs: Any) -> None: ...

    async def audit(**kwargs: Any) -> None: ...

    registry.on("mfa_enabled", welcome)
    registry.on("mfa_enabled", audit)
    try:
        listed = receivers_of("mfa_enabled")
    finally:
        for connection in signal_receivers(signals.mfa_enabled):
            signals.mfa_enabled.disconnect(connection.receiver, sender=registry)
    prefix = f"{__name__}.test_registry_on_handlers_are_listed_as_registry_on.<locals>"
    assert listed == [
        {
            "name": f"{prefix}.welcome",
            "kind": "sync",
            "delivery": "inline",
            "source": "registry.on",
            "options": {},
        },
        {
            "name": f"{prefix}.audit",
            "kind": "async",
            "delivery": "inline",
            "source": "registry.on",
            "options": {},
        },
    ]


def test_custom_events_are_listed_after_known_ones_only_with_receivers() -> None:
    signals.signal_for("zz_custom_without_receivers")
    custom = signals.signal_for("aa_custom_with_a_receiver")
    custom.connect(on_logout)
    try:
        events = [row["event"] for row in listing()]
        filtered = listing("zz_custom_without_receivers")
    finally:
        custom.disconnect(on_logout)
    assert events[len(KNOWN_EVENTS) + 1] == "aa_custom_with_a_receiver"
    assert "zz_custom_without_receivers" not in events
    assert filtered == [{"event": "zz_custom_without_receivers", "receivers": []}]


def test_event_names_filter_the_listing_in_the_order_given() -> None:
    assert [row["event"] for row in listing("user_logged_in", "mfa_enabled")] == [
        "user_logged_in",
        "mfa_enabled",
    ]


def test_an_unknown_event_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(CommandError, match=r"'user_loged_in'.*Did you mean 'user_logged_in'\?"):
        call_command("regstack_hooks", "user_loged_in", stdout=io.StringIO())


@pytest.mark.usefixtures("weakly_connected")
def test_the_default_output_is_a_readable_table() -> None:
    out = io.StringIO()
    with override_settings(REGSTACK_HOOKS={"user_logged_out": [BACKGROUND]}):
        call_command("regstack_hooks", "user_logged_out", "user_registered", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["EVENT", "RECEIVER", "KIND", "DELIVERY", "SOURCE", "OPTIONS"]
    start = next(i for i, line in enumerate(lines) if line.startswith("user_logged_out "))
    assert [line.split() for line in lines[start : start + 3]] == [
        ["user_logged_out", f"{__name__}.on_logout", "sync", "inline", "receiver"],
        [f"{__name__}.on_logout_async", "async", "inline", "receiver"],
        ["tests.hooks.record_async", "async", "background", "settings"],
    ]
    assert any(line.split() == ["user_registered", "-"] for line in lines)
    assert lines[-1] == "3 receiver(s) on 1 of 2 event(s)."


def test_a_broken_setting_is_a_command_error_worded_like_start_up_and_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Set it without override_settings: the app would re-wire and refuse it on
    # entry, as start-up does; the command must report it by itself.
    monkeypatch.setattr(
        settings, "REGSTACK_HOOKS", {"user_registered": ["tests.hooks.missing"]}, raising=False
    )
    (problem,) = check_hooks_setting()
    assert problem.id == E004
    try:
        with pytest.raises(ImproperlyConfigured) as start_up:
            wiring.connect_settings_handlers()
        with pytest.raises(CommandError) as raised:
            call_command("regstack_hooks", stdout=io.StringIO())
    finally:
        monkeypatch.undo()
        wiring.connect_settings_handlers()

    message = str(raised.value)
    assert message == str(start_up.value)
    assert as_text(problem) in message
    assert "regstack_django.E004" in message
    assert "tests.hooks.missing" in message


def test_the_command_skips_system_checks_so_it_can_report_them() -> None:
    from regstack_django.management.commands.regstack_hooks import Command

    assert Command.requires_system_checks == []


def test_a_bad_pool_setting_stops_the_command_as_it_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Set without setting_changed, as a settings file would be: start-up refuses it too.
    monkeypatch.setattr(settings, "REGSTACK_HOOKS_WORKERS", 0, raising=False)
    with pytest.raises(CommandError, match=r"REGSTACK_HOOKS_WORKERS must be a whole number"):
        call_command("regstack_hooks", stdout=io.StringIO())
