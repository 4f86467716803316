"""``HookRegistry``: regstack's event-bus API, delivering to Django signals.

``on``/``fire`` have regstack's signatures, so this registry can stand where
regstack expects its own. ``fire`` and ``fire_sync`` look up the event's Signal
and hand it to :mod:`regstack_django.dispatch`; failures are then reported once
(:data:`regstack_django.signals.receiver_failed`) and, in fail-loud mode,
re-raised as an ``ExceptionGroup``.

The ``sender`` every receiver gets is :attr:`HookRegistry.sender`: the
registry itself for the one :func:`regstack_django.get_registry` returns, the
attached ``regstack.RegStack`` (or regstack ``HookRegistry``) for the bridge
that :func:`regstack_django.attach` installs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.dispatch import Signal

from regstack_django import signals
from regstack_django.conf import conf
from regstack_django.failures import NAME_ATTRIBUTE, ReceiverFailure, receiver_name
from regstack_django.hooks import event_ids
from regstack_django.hooks.dispatch import dispatch_async, dispatch_sync
from regstack_django.pool.threads import running_loop
from regstack_django.secrets import SECRET_EVENTS, guard

Handler = Callable[..., Awaitable[None] | None]

_RESERVED = ("sender", "signal")

#: Marks the adapters ``on()`` connects, for ``manage.py regstack_hooks``.
SOURCE_ATTRIBUTE = "regstack_django_source"

Observer = Callable[[str, object, dict[str, Any]], bool]

#: Called with ``(event, sender, kwargs)`` before every fire, receivers or not;
#: if any returns True the fire reaches no receiver (it is "muted"). Only
#: :mod:`regstack_django.testing` adds to it; empty, it costs one truth test.
fire_observers: list[Observer] = []


def _observed_and_muted(event: str, sender: object, kwargs: dict[str, Any]) -> bool:
    muted = False
    for observer in list(fire_observers):
        muted = observer(event, sender, kwargs) or muted
    return muted


class HookRegistry:
    """An in-process event bus with regstack's API, backed by Django signals."""

    def __init__(self, *, sender: object | None = None) -> None:
        """``sender`` is what receivers get as ``sender``; default: this registry."""
        self.sender: object = self if sender is None else sender

    def __repr__(self) -> str:
        if self.sender is self:
            return f"<{type(self).__qualname__}>"
        return f"<{type(self).__qualname__} for {self.sender!r}>"

    def on(self, event: str, handler: Handler) -> None:
        """Subscribe a kwargs-only ``handler`` (sync or async) to ``event``.

        As in regstack, the handler is called with the event's keyword
        arguments only, is kept alive by the registry (not weakly referenced),
        and subscribing it twice makes it run twice.
        """
        if not callable(handler):
            raise TypeError(f"A hook handler must be callable, not {handler!r}.")
        signals.signal_for(event).connect(_kwargs_only(handler), sender=self.sender, weak=False)

    async def fire(self, event: str, /, **kwargs: Any) -> None:
        """Deliver ``event`` to its Signal's receivers from async code.

        Returns ``None`` and never raises because of a receiver (unless
        ``REGSTACK_HOOKS_RAISE_ERRORS`` is on).
        """
        kwargs = guard(kwargs) if event in SECRET_EVENTS else kwargs  # url: repr redacted
        if fire_observers and _observed_and_muted(event, self.sender, kwargs):
            return
        signal = signals.signal_for(event)
        if not signal.receivers:
            return
        _check_reserved(event, kwargs)
        token = event_ids.open_fire() if signal in event_ids.SIGNALS else None
        try:
            failures = await dispatch_async(signal, self.sender, event, kwargs)
        finally:
            if token is not None:
                event_ids.close_fire(token)
        if failures:
            if signals.receiver_failed.receivers:
                for failure in failures:
                    await dispatch_async(*_failure_report(self.sender, failure))
            _raise_if_loud(event, failures)

    def fire_sync(self, event: str, /, **kwargs: Any) -> None:
        """Deliver ``event`` from synchronous code (views, commands, shells).

        Raises ``RuntimeError`` before any receiver runs if this thread has a
        running event loop: there, ``await fire(...)`` is the right call.
        """
        if running_loop() is not None:
            raise RuntimeError(
                f"HookRegistry.fire_sync({event!r}) was called from a thread with a running "
                f"event loop; use 'await registry.fire({event!r}, ...)' in async code."
            )
        kwargs = guard(kwargs) if event in SECRET_EVENTS else kwargs  # url: repr redacted
        if fire_observers and _observed_and_muted(event, self.sender, kwargs):
            return
        signal = signals.signal_for(event)
        if not signal.receivers:
            return
        _check_reserved(event, kwargs)
        token = event_ids.open_fire() if signal in event_ids.SIGNALS else None
        try:
            failures = dispatch_sync(signal, self.sender, event, kwargs)
        finally:
            if token is not None:
                event_ids.close_fire(token)
        if failures:
            if signals.receiver_failed.receivers:
                for failure in failures:
                    dispatch_sync(*_failure_report(self.sender, failure))
            _raise_if_loud(event, failures)


def _check_reserved(event: str, kwargs: dict[str, Any]) -> None:
    for name in _RESERVED:
        if name in kwargs:
            raise TypeError(
                f"regstack event {event!r} cannot carry a {name!r} argument: Django "
                f"passes {name!r} to every receiver itself."
            )


def _failure_report(
    sender: object, failure: ReceiverFailure
) -> tuple[Signal, object, str, dict[str, Any]]:
    """Arguments of the ``receiver_failed`` dispatch for one failure.

    A receiver of ``receiver_failed`` that fails is logged by the dispatch
    loop like any other, and its failure is not sent again.
    """
    kwargs = {"event": failure.event, "receiver": failure.receiver, "exception": failure.exception}
    return signals.receiver_failed, sender, "receiver_failed", kwargs


def _raise_if_loud(event: str, failures: list[ReceiverFailure]) -> None:
    if conf.REGSTACK_HOOKS_RAISE_ERRORS:
        names = ", ".join(f.receiver for f in failures)
        raise ExceptionGroup(
            f"{len(failures)} receiver(s) of regstack event {event!r} failed: {names}",
            [f.exception for f in failures if isinstance(f.exception, Exception)],
        )


def _kwargs_only(handler: Handler) -> Callable[..., Any]:
    """Adapt a regstack-style handler (``**kwargs`` only) to a Django receiver."""
    receiver: Callable[..., Any]
    if iscoroutinefunction(handler):

        async def receiver(sender: object, signal: object = None, **kwargs: Any) -> None:
            await handler(**kwargs)

    else:

        def receiver(sender: object, signal: object = None, **kwargs: Any) -> None:
            handler(**kwargs)

    setattr(receiver, NAME_ATTRIBUTE, receiver_name(handler))
    setattr(receiver, SOURCE_ATTRIBUTE, "registry.on")
    return receiver
