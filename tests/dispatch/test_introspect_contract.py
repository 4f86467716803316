"""Pins the private ``Signal.receivers`` that ``hooks/introspect.py`` reads, on every Django leg.

``signal_receivers`` reads entries ``[0]`` (lookup key), ``[1]`` (receiver or weak
reference) and ``[-1]`` (is_async). If a Django release changes them, these fail first.
"""

from __future__ import annotations

import weakref
from typing import Any

import django
from django.dispatch import Signal

from regstack_django.hooks.introspect import has_receivers, signal_receivers


def _receiver(sender: object, **kwargs: Any) -> None: ...


async def _async_receiver(sender: object, **kwargs: Any) -> None: ...


class Listener:
    def on_event(self, sender: object, **kwargs: Any) -> None: ...


def test_signal_receivers_tuple_shape_on_this_django() -> None:
    signal = Signal()
    signal.connect(_receiver)
    signal.connect(_async_receiver, weak=False, dispatch_uid="uid")
    weak_entry, strong_entry = signal.receivers
    expected_length = 3 if django.VERSION < (6, 0) else 4
    assert len(weak_entry) == len(strong_entry) == expected_length, django.VERSION
    assert isinstance(weak_entry[1], weakref.ReferenceType)
    assert weak_entry[1]() is _receiver
    assert strong_entry[1] is _async_receiver
    assert weak_entry[-1] is False
    assert strong_entry[-1] is True
    assert strong_entry[0][0] == "uid"
    assert [(c.receiver, c.is_async) for c in signal_receivers(signal)] == [
        (_receiver, False),
        (_async_receiver, True),
    ]


def test_signal_receivers_reads_the_django_6_shape_too() -> None:
    signal = Signal()
    signal.receivers = [
        (("uid", 0), weakref.ref(_receiver), None, False),
        ((1, 0), _async_receiver, None, True),
    ]
    assert [(c.receiver, c.is_async) for c in signal_receivers(signal)] == [
        (_receiver, False),
        (_async_receiver, True),
    ]


def test_signal_receivers_dereferences_methods_and_skips_dead_receivers() -> None:
    signal = Signal()
    listener = Listener()
    signal.connect(listener.on_event)

    def short_lived(sender: object, **kwargs: Any) -> None: ...

    signal.connect(short_lived)
    del short_lived
    listed = signal_receivers(signal)
    assert [c.receiver for c in listed] == [listener.on_event]


def test_has_receivers_counts_every_sender_where_has_listeners_does_not() -> None:
    """``HookRegistry.on`` connects with a sender; the public API only asks per sender."""
    signal = Signal()
    assert not has_receivers(signal)
    signal.connect(_receiver, sender=object(), weak=False)
    assert not signal.has_listeners(), django.VERSION
    assert has_receivers(signal)
