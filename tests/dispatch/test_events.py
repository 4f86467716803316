"""The 20 events: names, signals, and agreement with regstack itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.dispatch import Signal

import regstack_django
from regstack_django import signals
from regstack_django.events import EVENT_ARGUMENTS, KNOWN_EVENTS


def test_known_events_is_a_frozenset_of_twenty_names() -> None:
    assert isinstance(regstack_django.KNOWN_EVENTS, frozenset)
    assert len(KNOWN_EVENTS) == 20


def test_known_events_equal_regstacks_own_set() -> None:
    events = pytest.importorskip("regstack.hooks.events")
    assert set(events.KNOWN_EVENTS) == KNOWN_EVENTS


@pytest.mark.parametrize("event", sorted(KNOWN_EVENTS))
def test_each_known_event_has_a_module_level_signal(event: str) -> None:
    signal = getattr(signals, event)
    assert isinstance(signal, Signal)
    assert signals.signal_for(event) is signal


def test_the_module_level_signals_are_exactly_the_known_events() -> None:
    declared = {name for name, value in vars(signals).items() if isinstance(value, Signal)}
    assert declared - {"receiver_failed", "login_failed"} == KNOWN_EVENTS
    helpers = {"custom_events", "event_name", "login_failed", "receiver_failed", "signal_for"}
    assert set(signals.__all__) == KNOWN_EVENTS | helpers


def test_every_known_event_has_its_arguments_and_no_other_event_does() -> None:
    assert frozenset(EVENT_ARGUMENTS) == KNOWN_EVENTS


def test_receiver_failed_is_a_signal_but_not_an_event() -> None:
    assert isinstance(signals.receiver_failed, Signal)
    assert "receiver_failed" not in KNOWN_EVENTS


def test_every_event_documents_its_arguments_in_the_signals_module() -> None:
    source = Path(signals.__file__).read_text(encoding="utf-8")
    for event, (required, optional) in EVENT_ARGUMENTS.items():
        block = source.split(f"\n{event} = Signal()")[0].rsplit("\n\n", 1)[-1]
        for argument in (*required, *optional):
            assert argument in block, f"{event}: {argument} missing from its comment"


def test_login_failed_is_the_bridges_event_not_regstacks() -> None:
    assert "login_failed" not in KNOWN_EVENTS
    assert signals.signal_for("login_failed") is signals.login_failed
    assert signals.event_name(signals.login_failed) == "login_failed"
    assert "login_failed" not in signals.custom_events()


def test_event_name_is_the_inverse_of_signal_for() -> None:
    for event in KNOWN_EVENTS:
        assert signals.event_name(signals.signal_for(event)) == event
    custom = signals.signal_for("my_app_event_name_custom")
    assert signals.event_name(custom) == "my_app_event_name_custom"
    with pytest.raises(LookupError, match="not the Signal of a regstack event"):
        signals.event_name(Signal())
