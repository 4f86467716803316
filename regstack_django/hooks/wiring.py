"""Connect the handlers named in ``REGSTACK_HOOKS`` to their Signals.

Run by ``AppConfig.ready()`` and again whenever the setting changes; running it
again never connects a handler twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

from regstack_django.checks.messages import as_text
from regstack_django.failures import forget_name, give_name
from regstack_django.hooks import timeouts
from regstack_django.hooks.entries import HandlerSpec, parse_hooks_setting
from regstack_django.pool.overflow import MUST_RUN_ATTRIBUTE
from regstack_django.signals import signal_for


@dataclass(frozen=True)
class Connection:
    """One settings entry as connected: what ``manage.py regstack_hooks`` lists."""

    spec: HandlerSpec
    receiver: Callable[..., Any]


@dataclass(slots=True)
class WiringState:
    """What the connected settings entries change on every fire's fast path."""

    #: Signals with a background entry: their fires share one ``event_id``.
    background_signals: frozenset[Signal] = field(default_factory=frozenset)
    #: How many sync entries have a ``timeout``: when 0, dispatch never looks for one.
    sync_timeouts: int = 0


#: Rewritten here only, on every (re)wiring; read by every fire.
state = WiringState()

_lock = threading.Lock()
_connections: list[Connection] = []


def settings_connections() -> list[Connection]:
    """Return the settings entries connected right now, in setting order."""
    with _lock:
        return list(_connections)


def connect_settings_handlers() -> None:
    """(Re)connect every handler in ``REGSTACK_HOOKS``.

    Raise ``ImproperlyConfigured`` listing every problem when an entry is wrong;
    the valid ones stay connected.
    """
    parsed = parse_hooks_setting()
    with _lock:
        for old in _connections:
            signal_for(old.spec.event).disconnect(dispatch_uid=old.spec.dispatch_uid)
            forget_name(old.receiver)
        _connections.clear()
        for spec in parsed.specs:
            receiver = _receiver_for(spec)
            give_name(receiver, spec.path)
            signal_for(spec.event).connect(receiver, weak=False, dispatch_uid=spec.dispatch_uid)
            _connections.append(Connection(spec=spec, receiver=receiver))
        state.background_signals = frozenset(
            signal_for(c.spec.event) for c in _connections if c.spec.background
        )
        state.sync_timeouts = sum(
            hasattr(c.receiver, timeouts.TIMEOUT_ATTRIBUTE) for c in _connections
        )
    if parsed.errors:
        raise ImproperlyConfigured(invalid_settings_message(parsed.errors))


def invalid_settings_message(errors: list[CheckMessage]) -> str:
    """Return the start-up error: every problem, worded as ``manage.py check`` words it."""
    lines = "\n".join(f"  {as_text(p)}" for p in errors)
    return f"regstack_django settings are invalid:\n{lines}"


def _receiver_for(spec: HandlerSpec) -> Callable[..., Any]:
    if spec.background:
        from regstack_django.background.enqueue import background_receiver

        return background_receiver(spec)
    if spec.timeout is not None:
        if spec.is_async:
            return timeouts.async_with_timeout(spec.handler, spec.path, spec.timeout)
        receiver = timeouts.sync_with_timeout(spec.handler, spec.path, spec.event, spec.timeout)
        if spec.must_run:
            setattr(receiver, MUST_RUN_ATTRIBUTE, True)
        return receiver
    return spec.handler
