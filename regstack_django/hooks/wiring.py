"""Connect the handlers named in ``REGSTACK_HOOKS`` to their Signals.

Called by ``AppConfig.ready()`` and again whenever ``REGSTACK_HOOKS`` changes
(``override_settings``). Each entry is connected with a ``dispatch_uid`` and the
previous wiring is disconnected first, so running it again never connects a
handler twice. Handlers with options get a small adapter (a ``timeout``, see
:mod:`regstack_django.timeouts`, or background delivery) that is held strongly
and named after the user's handler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured

from regstack_django.checks.messages import as_text
from regstack_django.failures import forget_name, give_name
from regstack_django.hooks import event_ids, timeouts
from regstack_django.hooks.entries import HandlerSpec, parse_hooks_setting
from regstack_django.signals import signal_for


@dataclass(frozen=True)
class Connection:
    """One settings entry as connected: what ``manage.py regstack_hooks`` lists."""

    spec: HandlerSpec
    receiver: Callable[..., Any]


_lock = threading.Lock()
_connections: list[Connection] = []


def settings_connections() -> list[Connection]:
    """The settings entries connected right now, in setting order."""
    with _lock:
        return list(_connections)


def connect_settings_handlers() -> None:
    """(Re)connect every handler in ``REGSTACK_HOOKS``.

    Raises ``ImproperlyConfigured`` listing every problem (the same words as
    ``manage.py check``) when an entry is wrong; the valid ones stay connected.
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
        event_ids.SIGNALS.clear()
        event_ids.SIGNALS.update(
            signal_for(c.spec.event) for c in _connections if c.spec.background
        )
        timeouts.connected_sync_timeouts = sum(
            hasattr(c.receiver, timeouts.TIMEOUT_ATTRIBUTE) for c in _connections
        )
    if parsed.errors:
        raise ImproperlyConfigured(invalid_settings_message(parsed.errors))


def invalid_settings_message(errors: list[CheckMessage]) -> str:
    """The start-up error text: every problem, worded as ``manage.py check`` words it."""
    lines = "\n".join(f"  {as_text(p)}" for p in errors)
    return f"regstack_django settings are invalid:\n{lines}"


def _receiver_for(spec: HandlerSpec) -> Callable[..., Any]:
    if spec.background:
        from regstack_django.background.enqueue import background_receiver

        return background_receiver(spec)
    if spec.timeout is not None:
        if spec.is_async:
            return timeouts.async_with_timeout(spec.handler, spec.path, spec.timeout)
        return timeouts.sync_with_timeout(spec.handler, spec.path, spec.event, spec.timeout)
    return spec.handler
