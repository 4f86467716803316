"""Pins the one private Django API the dispatch loop reads, on every Django leg.

``regstack_django.hooks.dispatch`` calls ``Signal._live_receivers(sender)`` and the
registry tests ``Signal.receivers`` for emptiness, as Django's ``send()`` does. If a
Django release changes either, these tests fail first, with a message that says
where to look.
"""

from __future__ import annotations

from typing import Any

import django
from django.dispatch import Signal

from regstack_django.hooks.dispatch import live_receivers


def sync_receiver(sender: object, **kwargs: Any) -> None: ...


async def async_receiver(sender: object, **kwargs: Any) -> None: ...


def test_live_receivers_returns_sync_and_async_lists_in_connection_order() -> None:
    signal = Signal()
    assert isinstance(signal.receivers, list), django.VERSION
    assert not signal.receivers
    signal.connect(async_receiver)
    signal.connect(sync_receiver)
    assert signal.receivers
    result = signal._live_receivers(None)
    assert isinstance(result, tuple), (django.VERSION, result)
    assert len(result) == 2, (django.VERSION, result)
    assert result == ([sync_receiver], [async_receiver])
    assert live_receivers(signal, None) == ([sync_receiver], [async_receiver])


def test_live_receivers_filters_by_sender() -> None:
    signal = Signal()
    mine, other = object(), object()
    signal.connect(sync_receiver, sender=mine, weak=False)
    assert live_receivers(signal, mine) == ([sync_receiver], [])
    assert live_receivers(signal, other) is None


def test_live_receivers_is_none_exactly_when_has_listeners_is_false() -> None:
    signal = Signal()
    mine, other = object(), object()
    assert live_receivers(signal, mine) is None
    assert not signal.has_listeners(mine)
    signal.connect(async_receiver, sender=mine, weak=False)
    for sender in (mine, other, None):
        assert (live_receivers(signal, sender) is not None) == signal.has_listeners(sender)
    signal.connect(sync_receiver, weak=False)
    for sender in (mine, other, None):
        assert live_receivers(signal, sender) is not None
        assert signal.has_listeners(sender)
