"""REGSTACK_HOOKS as a user sees it: name a handler in settings, fire, look at what ran."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from regstack_django import HookRegistry, get_registry
from regstack_django.failures import ReceiverTimeout
from regstack_django.hooks import wiring
from regstack_django.signals import receiver_failed
from tests import hooks
from tests.utils import bridge_errors, connected

USER = SimpleNamespace(email="ada@example.com")
SLOW = {"handler": "tests.hooks.slow_async", "timeout": 0.05}


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    hooks.reset()
    yield
    hooks.reset()


def calls() -> list[tuple[str, dict[str, Any]]]:
    return [(name, kwargs) for _event, name, kwargs in hooks.CALLS]


def hooked(hooks_setting: Any) -> override_settings:
    return override_settings(REGSTACK_HOOKS=hooks_setting)


def _apply(**overrides: Any) -> None:
    with override_settings(**overrides):
        pass


def _valid_setting_still_works() -> None:
    registry = get_registry()
    hooks.reset()
    registry.fire_sync("user_registered", user=USER)
    assert calls() == [], "the refused setting left a handler connected"
    with hooked({"user_registered": ["tests.hooks.record_sync"]}):
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_sync", {"sender": registry, "user": USER, "context": None})]
    hooks.reset()


def refused(value: Any, setting: str = "REGSTACK_HOOKS") -> str:
    """Apply ``setting = value``; assert start-up refuses it and settings are restored."""
    original = settings._wrapped
    try:
        with pytest.raises(ImproperlyConfigured) as excinfo:
            _apply(**{setting: value})
    finally:
        if settings._wrapped is not original:  # Django versions that keep a failed override
            settings._wrapped = original
            wiring.connect_settings_handlers()
    assert settings._wrapped is original
    _valid_setting_still_works()
    return str(excinfo.value)


# -- connecting ---------------------------------------------------------------------------------


def test_sync_handler_from_setting_runs_on_fire_sync_until_override_exits(
    registry: HookRegistry,
) -> None:
    with hooked({"user_registered": ["tests.hooks.record_sync"]}):
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_sync", {"sender": registry, "user": USER, "context": None})]

    registry.fire_sync("user_registered", user=USER)
    assert len(calls()) == 1


async def test_sync_handler_from_setting_runs_on_await_fire_until_override_exits(
    registry: HookRegistry,
) -> None:
    with hooked({"user_registered": ["tests.hooks.record_sync"]}):
        await registry.fire("user_registered", user=USER)
    assert calls() == [("record_sync", {"sender": registry, "user": USER, "context": None})]

    await registry.fire("user_registered", user=USER)
    assert len(calls()) == 1


def test_async_handler_from_setting_runs_on_fire_sync_until_override_exits(
    registry: HookRegistry,
) -> None:
    with hooked({"user_registered": ["tests.hooks.record_async"]}):
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_async", {"sender": registry, "user": USER, "context": None})]

    registry.fire_sync("user_registered", user=USER)
    assert len(calls()) == 1


async def test_async_handler_from_setting_runs_on_await_fire_until_override_exits(
    registry: HookRegistry,
) -> None:
    with hooked({"user_registered": ["tests.hooks.record_async"]}):
        await registry.fire("user_registered", user=USER)
    assert calls() == [("record_async", {"sender": registry, "user": USER, "context": None})]

    await registry.fire("user_registered", user=USER)
    assert len(calls()) == 1


def test_dict_entry_with_handler_key_connects(registry: HookRegistry) -> None:
    with hooked({"user_registered": [{"handler": "tests.hooks.record_sync"}]}):
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_sync", {"sender": registry, "user": USER, "context": None})]


def test_callable_instance_connects(registry: HookRegistry) -> None:
    with hooked({"user_registered": ["tests.hooks.callable_instance"]}):
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("CallableHandler", {"sender": registry, "user": USER, "context": None})]


def test_handler_requiring_user_is_fine_on_an_event_that_carries_user(
    registry: HookRegistry,
) -> None:
    with hooked({"user_registered": ["tests.hooks.record_with_user"]}):
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_with_user", {"sender": registry, "user": USER, "context": None})]


def test_setting_handler_runs_only_for_its_own_event(registry: HookRegistry) -> None:
    with hooked({"user_registered": ["tests.hooks.record_sync"]}):
        registry.fire_sync("user_logged_in", user=USER)
    assert calls() == []


def test_unknown_event_name_only_warns_so_it_connects_and_fires(registry: HookRegistry) -> None:
    with hooked({"user_registred": ["tests.hooks.record_sync"]}):
        registry.fire_sync("user_registred", user=USER)
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_sync", {"sender": registry, "user": USER, "context": None})]


# -- ready() again ------------------------------------------------------------------------------


def test_running_ready_again_never_runs_a_handler_twice_nor_replaces_the_registry() -> None:
    config = apps.get_app_config("regstack_django")
    before = get_registry()
    with hooked({"user_registered": ["tests.hooks.record_sync", "tests.hooks.record_async"]}):
        for _ in range(3):
            config.ready()
        before.fire_sync("user_registered", user=USER)
    assert get_registry() is before
    assert sorted(name for name, _ in calls()) == ["record_async", "record_sync"]


def test_running_ready_after_the_override_exits_connects_nothing(registry: HookRegistry) -> None:
    with hooked({"user_registered": ["tests.hooks.record_sync"]}):
        pass
    apps.get_app_config("regstack_django").ready()
    registry.fire_sync("user_registered", user=USER)
    assert calls() == []


# -- timeout ------------------------------------------------------------------------------------


async def test_async_handler_within_its_timeout_runs(registry: HookRegistry) -> None:
    with hooked({"user_registered": [{"handler": "tests.hooks.record_async", "timeout": 5}]}):
        await registry.fire("user_registered", user=USER)
    assert calls() == [("record_async", {"sender": registry, "user": USER, "context": None})]


async def test_timeout_cancels_a_slow_handler_reports_it_and_never_holds_up_the_others(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        reports.append(kwargs)

    setting = {"user_registered": [SLOW, "tests.hooks.record_async"]}
    with hooked(setting), connected(receiver_failed, on_failure), caplog.at_level(logging.ERROR):
        start = time.monotonic()
        await registry.fire("user_registered", user=USER)
        elapsed = time.monotonic() - start

    assert elapsed < 1.5
    assert calls() == [("record_async", {"sender": registry, "user": USER, "context": None})]
    [record] = bridge_errors(caplog)
    assert "tests.hooks.slow_async" in record.getMessage()
    assert "'user_registered'" in record.getMessage()
    [report] = reports
    assert report["event"] == "user_registered"
    assert report["receiver"] == "tests.hooks.slow_async"
    assert isinstance(report["exception"], ReceiverTimeout)


def test_timeout_also_cancels_a_slow_handler_fired_from_sync_code(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with hooked({"user_registered": [SLOW]}), caplog.at_level(logging.ERROR):
        start = time.monotonic()
        registry.fire_sync("user_registered", user=USER)
        elapsed = time.monotonic() - start
    assert elapsed < 1.5
    assert calls() == []
    [record] = bridge_errors(caplog)
    assert "tests.hooks.slow_async" in record.getMessage()


def test_failing_settings_entry_is_reported_by_its_settings_path(registry: HookRegistry) -> None:
    reports: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        reports.append(kwargs)

    setting = {"user_registered": ["tests.hooks.failing_instance"]}
    with hooked(setting), connected(receiver_failed, on_failure):
        registry.fire_sync("user_registered", user=USER)
    assert [r["receiver"] for r in reports] == ["tests.hooks.failing_instance"]


# -- bad settings stop start-up -----------------------------------------------------------------

WRONG = [
    pytest.param(
        "E004", {"user_registered": ["tests.hoks.record_sync"]}, id="E004-module-not-found"
    ),
    pytest.param(
        "E004", {"user_registered": ["tests.hooks.recrod_sync"]}, id="E004-missing-attribute"
    ),
    pytest.param("E005", {"user_registered": ["tests.hooks.NOT_CALLABLE"]}, id="E005"),
    pytest.param("E006", {"user_registered": ["tests.hooks.no_kwargs"]}, id="E006-no-kwargs"),
    pytest.param(
        "E006", {"user_registered": ["tests.hooks.positional_only"]}, id="E006-positional-only"
    ),
    pytest.param(
        "E006",
        {"verification_requested": ["tests.hooks.record_with_user"]},
        id="E006-requires-user-the-event-lacks",
    ),
    pytest.param(
        "E008",
        {"user_registered": [{"handler": "tests.hooks.record_async", "timeout": "5"}]},
        id="E008-timeout-str",
    ),
    pytest.param(
        "E008",
        {"user_registered": [{"handler": "tests.hooks.record_async", "timeout": True}]},
        id="E008-timeout-bool",
    ),
    pytest.param(
        "E008",
        {"user_registered": [{"handler": "tests.hooks.record_async", "timeout": -1}]},
        id="E008-timeout-negative",
    ),
    pytest.param(
        "E009",
        {"user_registered": [{"handler": "tests.hooks.record_async", "on_commit": False}]},
        id="E009-on-commit-without-background",
    ),
]


def _event_and_path(value: dict[str, list[Any]]) -> tuple[str, str]:
    [(event, [entry])] = value.items()
    return event, entry if isinstance(entry, str) else entry["handler"]


@pytest.mark.parametrize(("code", "value"), WRONG)
def test_bad_handler_stops_startup_naming_setting_event_path_and_id(
    code: str, value: dict[str, list[Any]]
) -> None:
    message = refused(value)
    event, path = _event_and_path(value)
    assert f"regstack_django.{code}" in message
    assert "REGSTACK_HOOKS" in message
    assert repr(event) in message
    assert repr(path) in message


def test_unknown_option_stops_startup_with_did_you_mean() -> None:
    message = refused({"user_registered": [{"handler": "tests.hooks.record_async", "timout": 1}]})
    assert "regstack_django.E007" in message
    assert "REGSTACK_HOOKS['user_registered'][0]" in message
    assert "'tests.hooks.record_async'" in message
    assert "'timout'" in message
    assert "did you mean 'timeout'" in message


def test_setting_that_is_not_a_dict_stops_startup() -> None:
    message = refused(["x"])
    assert "regstack_django.E001" in message
    assert "REGSTACK_HOOKS" in message
    assert "'x'" in message


def test_event_value_that_is_a_string_stops_startup() -> None:
    message = refused({"user_registered": "tests.hooks.record_sync"})
    assert "regstack_django.E002" in message
    assert "REGSTACK_HOOKS['user_registered']" in message
    assert "'tests.hooks.record_sync'" in message


@pytest.mark.parametrize("entry", [42, {"timeout": 1}], ids=["int", "dict-without-handler"])
def test_entry_that_is_neither_path_nor_handler_dict_stops_startup(entry: object) -> None:
    message = refused({"user_registered": [entry]})
    assert "regstack_django.E003" in message
    assert "REGSTACK_HOOKS['user_registered'][0]" in message
    assert repr(entry) in message


def test_raise_errors_setting_that_is_not_a_bool_stops_startup() -> None:
    message = refused("yes", setting="REGSTACK_HOOKS_RAISE_ERRORS")
    assert "regstack_django.E012" in message
    assert "REGSTACK_HOOKS_RAISE_ERRORS" in message
    assert "'yes'" in message


def test_every_problem_is_in_the_one_startup_error() -> None:
    message = refused({"user_registered": ["tests.hooks.recrod_sync", "tests.hooks.NOT_CALLABLE"]})
    assert "regstack_django.E004" in message
    assert "regstack_django.E005" in message


def test_valid_entry_next_to_an_invalid_one_stays_connected_while_startup_raises(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["manage.py", "runserver"])
    mixed = {"user_registered": ["tests.hooks.recrod_sync", "tests.hooks.record_sync"]}
    with hooked({}):
        settings.REGSTACK_HOOKS = mixed  # as read at start-up: no setting_changed
        with pytest.raises(ImproperlyConfigured, match="recrod_sync"):
            apps.get_app_config("regstack_django").ready()
        registry.fire_sync("user_registered", user=USER)
    assert calls() == [("record_sync", {"sender": registry, "user": USER, "context": None})]


def test_ready_leaves_reporting_to_the_check_command(
    registry: HookRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["manage.py", "check"])
    with hooked({}):
        settings.REGSTACK_HOOKS = {"user_registered": ["tests.hooks.recrod_sync"]}
        apps.get_app_config("regstack_django").ready()
