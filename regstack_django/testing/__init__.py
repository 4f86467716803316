"""Test helpers: record which regstack events fired, and keep receivers out of a test.

Both observe every fire through :data:`regstack_django.registry.fire_observers`
(docs/testing.md).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from regstack_django.events import HOOKABLE_EVENTS
from regstack_django.registry import fire_observers

__all__ = ["CapturedEvent", "CapturedEvents", "capture_events", "muted"]

# Guards our edits of ``fire_observers`` (the registry iterates a snapshot).
_observers_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CapturedEvent:
    """One fire of one event: its name, its ``sender`` and a copy of its kwargs (as passed)."""

    event: str
    sender: object
    kwargs: dict[str, Any]


class CapturedEvents(list[CapturedEvent]):
    """The records :func:`capture_events` collects, in firing order."""

    @property
    def events(self) -> list[str]:
        """The event names, in firing order (one per fire)."""
        return [record.event for record in list(self)]

    def of(self, event: str) -> list[CapturedEvent]:
        """Return the records of ``event`` only, in firing order."""
        return [record for record in list(self) if record.event == event]


def _names(events: tuple[str, ...], helper: str, custom: bool) -> frozenset[str] | None:
    """Return the event names to act on (``None``: all); refuse unknown ones unless ``custom``.

    A typo would otherwise capture or mute nothing, silently.
    """
    for event in events:
        if not isinstance(event, str) or not event:
            raise TypeError(
                f"{helper}() takes event names (str), not {event!r}; "
                f"for example {helper}('user_registered')."
            )
        if not custom and event not in HOOKABLE_EVENTS:
            close = difflib.get_close_matches(event, sorted(HOOKABLE_EVENTS), n=1)
            suggestion = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"{helper}({event!r}): regstack fires no event {event!r}; {suggestion}"
                f"For an event the project fires itself, pass custom=True."
            )
    return frozenset(events) if events else None


@contextmanager
def _observing(observer: Any) -> Iterator[None]:
    with _observers_lock:
        fire_observers.append(observer)
    try:
        yield
    finally:
        with _observers_lock:
            fire_observers.remove(observer)


@contextmanager
def capture_events(*events: str, custom: bool = False) -> Iterator[CapturedEvents]:
    """Record every fire of ``events`` (of every event if none is named) for the block.

    An unknown name is a ``ValueError`` with a "did you mean", unless ``custom=True``.
    Sees ``fire`` and ``fire_sync`` from any thread, also while :func:`muted`.
    """
    wanted = _names(events, "capture_events", custom)
    captured = CapturedEvents()
    lock = threading.Lock()

    def observer(event: str, sender: object, kwargs: dict[str, Any]) -> bool:
        if wanted is None or event in wanted:
            record = CapturedEvent(event=event, sender=sender, kwargs=dict(kwargs))
            with lock:
                captured.append(record)
        return False

    with _observing(observer):
        yield captured


@contextmanager
def muted(*events: str, custom: bool = False) -> Iterator[None]:
    """Keep ``events`` (every event if none is named) from reaching any receiver.

    The fire returns before dispatch; :func:`capture_events` still records it.
    Unknown names are refused as by :func:`capture_events`.
    """
    wanted = _names(events, "muted", custom)

    def observer(event: str, sender: object, kwargs: dict[str, Any]) -> bool:
        return wanted is None or event in wanted

    with _observing(observer):
        yield
