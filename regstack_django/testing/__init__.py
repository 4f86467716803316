"""Test helpers: see which regstack events fired, and keep receivers out of a test.

Tests of a project that embeds regstack want two things the signals alone do
not give: a record of what fired (to assert on it) and a way to stop the
project's receivers (e-mail, webhooks, a broken one) from running during a
test. Both hook into :data:`regstack_django.registry.fire_observers`, which
every ``HookRegistry.fire`` / ``fire_sync`` consults before dispatching, so
they see events from :func:`regstack_django.get_registry` and from a real
regstack bridged with :func:`regstack_django.attach` alike::

    from regstack_django.testing import capture_events, muted

    def test_signup_sends_verification(client):
        with capture_events("verification_requested") as captured, muted():
            client.post(...)  # or an httpx call into the regstack FastAPI app
        (record,) = captured
        assert record.kwargs["email"] == "alice@example.com"
        assert captured.events == ["verification_requested"]

The pytest plugin (:mod:`regstack_django.testing.plugin`, registered through
the ``pytest11`` entry point) offers the same as the fixtures
``regstack_events`` and ``regstack_fail_loud``.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from regstack_django.events import KNOWN_EVENTS
from regstack_django.registry import fire_observers

__all__ = ["CapturedEvent", "CapturedEvents", "capture_events", "muted"]

# Guards our edits of ``fire_observers`` (the registry iterates a snapshot).
_observers_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CapturedEvent:
    """One fire of one event: its name, its ``sender`` and a copy of its kwargs.

    ``kwargs`` are exactly what regstack passed (no ``signal``, no ``sender``).
    """

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
        """The records of ``event`` only, in firing order."""
        return [record for record in list(self) if record.event == event]


def _names(events: tuple[str, ...], helper: str, custom: bool) -> frozenset[str] | None:
    """The event names to act on, or ``None`` for all of them.

    A name regstack does not fire is refused (a typo would capture or mute
    nothing, silently) unless ``custom`` says it is one the project fires.
    """
    for event in events:
        if not isinstance(event, str) or not event:
            raise TypeError(
                f"{helper}() takes event names (str), not {event!r}; "
                f"for example {helper}('user_registered')."
            )
        if not custom and event not in KNOWN_EVENTS:
            close = difflib.get_close_matches(event, sorted(KNOWN_EVENTS), n=1)
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
    """Record every fire of ``events`` (of every event if none is named).

    A name that is not one of regstack's 20 events is a ``ValueError`` with a
    "did you mean", unless ``custom=True`` (events the project fires itself).

    Works for ``fire`` and ``fire_sync``, from any thread, whether or not a
    receiver is connected and also while the event is :func:`muted`. The
    ``with`` statement binds a :class:`CapturedEvents` list that fills as
    events fire; it stops filling when the block ends (even on an exception).
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

    Unknown names are refused as by :func:`capture_events` (``custom=True``
    allows them).

    Receivers named in ``REGSTACK_HOOKS``, ``@receiver`` functions and
    ``HookRegistry.on`` handlers are all skipped: the fire returns before
    dispatch. An enclosing (or nested) :func:`capture_events` still records
    the muted fires.
    """
    wanted = _names(events, "muted", custom)

    def observer(event: str, sender: object, kwargs: dict[str, Any]) -> bool:
        return wanted is None or event in wanted

    with _observing(observer):
        yield
