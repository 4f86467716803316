"""``HookRegistry``: regstack's event-bus API (``on``/``fire``), delivering to Django signals.

Its dotted name is the ``sender`` string of background payloads fired on
``get_registry()``, so it stays here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextvars import Token
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.dispatch import Signal

from regstack_django import signals
from regstack_django.conf import conf
from regstack_django.context import current_context
from regstack_django.failures import NAME_ATTRIBUTE, ReceiverFailure, receiver_name
from regstack_django.hooks import event_ids
from regstack_django.hooks.dispatch import (
    Fire,
    LiveReceivers,
    dispatch_async,
    dispatch_sync,
    live_receivers,
)
from regstack_django.hooks.wiring import state
from regstack_django.observability import switch
from regstack_django.pool.threads import running_loop
from regstack_django.secrets import SECRET_EVENTS, guard

Handler = Callable[..., Awaitable[None] | None]

#: Marks the adapters ``on()`` connects, for ``manage.py regstack_hooks``.
SOURCE_ATTRIBUTE = "regstack_django_source"

Observer = Callable[[str, object, dict[str, Any]], bool]

#: Called with ``(event, sender, kwargs)`` before every fire, receivers or not;
#: if any returns True the fire reaches no receiver (it is "muted"). Only
#: :mod:`regstack_django.testing` adds to it.
fire_observers: list[Observer] = []

_Prepared = tuple[Fire, LiveReceivers, Token[list[str] | None] | None]

#: ``signal_for`` without a call once an event has fired: the no-receiver fast
#: path is benchmarked against Django's own (``docs/benchmarks.md``).
_signals: dict[str, Signal] = {}


def _signal_for(event: str) -> Signal:
    signal = _signals[event] = signals.signal_for(event)
    return signal


class HookRegistry:
    """An in-process event bus with regstack's API, backed by Django signals."""

    def __init__(self, *, sender: object | None = None) -> None:
        """Make a registry whose receivers get ``sender`` (default: the registry)."""
        self.sender: object = self if sender is None else sender

    def __repr__(self) -> str:
        if self.sender is self:
            return f"<{type(self).__qualname__}>"
        return f"<{type(self).__qualname__} for {self.sender!r}>"

    def on(self, event: str, handler: Handler) -> None:
        """Subscribe a kwargs-only ``handler`` (sync or async) to ``event``.

        As in regstack, the handler gets the event's keyword arguments only, is
        held strongly, and subscribing it twice makes it run twice.
        """
        if not callable(handler):
            raise TypeError(f"A hook handler must be callable, not {handler!r}.")
        signals.signal_for(event).connect(_kwargs_only(handler), sender=self.sender, weak=False)

    async def fire(self, event: str, /, **kwargs: Any) -> None:
        """Deliver ``event`` to its Signal's receivers from async code.

        Never raise because of a receiver, unless ``REGSTACK_HOOKS_RAISE_ERRORS`` is on.
        """
        prepared = self._prepare(event, kwargs)
        if prepared is None:
            return
        fire, receivers, token = prepared
        # One flag check: with OpenTelemetry off, a fire pays nothing more.
        run = _traced_async() if switch.on else dispatch_async
        try:
            await run(fire, receivers)
        finally:
            if token is not None:
                event_ids.close_fire(token)
        if fire.failures:
            for report, report_receivers in self._reports(fire.failures):
                await run(report, report_receivers)
            _raise_if_loud(event, fire.failures)

    def fire_sync(self, event: str, /, **kwargs: Any) -> None:
        """Deliver ``event`` from synchronous code (views, commands, shells).

        Raise ``RuntimeError`` before any receiver runs if this thread has a
        running event loop: there, ``await fire(...)`` is the right call.
        """
        if running_loop() is not None:
            raise RuntimeError(
                f"HookRegistry.fire_sync({event!r}) was called from a thread with a running "
                f"event loop; use 'await registry.fire({event!r}, ...)' in async code."
            )
        prepared = self._prepare(event, kwargs)
        if prepared is None:
            return
        fire, receivers, token = prepared
        run = _traced_sync() if switch.on else dispatch_sync
        try:
            run(fire, receivers)
        finally:
            if token is not None:
                event_ids.close_fire(token)
        if fire.failures:
            for report, report_receivers in self._reports(fire.failures):
                run(report, report_receivers)
            _raise_if_loud(event, fire.failures)

    def _prepare(self, event: str, kwargs: dict[str, Any]) -> _Prepared | None:
        """Return the fire, its receivers and its event-id scope; ``None`` if none runs."""
        if event in SECRET_EVENTS:
            # In place: no frame of this fire (tracebacks show locals) keeps the raw link.
            kwargs.update(guard(kwargs))
        if fire_observers and _observed_and_muted(event, self.sender, kwargs):
            return None
        signal = _signals.get(event) or _signal_for(event)
        if not signal.receivers:
            # Django's own send() fast path: no lookup for a signal nobody listens to.
            return None
        receivers = live_receivers(signal, self.sender)
        if receivers is None:
            return None
        if "sender" in kwargs or "signal" in kwargs:
            raise _reserved_error(event, kwargs)
        if "context" not in kwargs:
            kwargs["context"] = current_context()
        token = event_ids.open_fire() if signal in state.background_signals else None
        return Fire(signal, self.sender, event, kwargs), receivers, token

    def _reports(self, failures: list[ReceiverFailure]) -> Iterator[tuple[Fire, LiveReceivers]]:
        """Yield one ``receiver_failed`` fire per failure, when that signal has receivers.

        A receiver of ``receiver_failed`` that fails is logged like any other,
        and its failure is not sent again.
        """
        for failure in failures:
            receivers = live_receivers(signals.receiver_failed, self.sender)
            if receivers is None:
                continue
            kwargs = {
                "event": failure.event,
                "receiver": failure.receiver,
                "exception": failure.exception,
            }
            yield Fire(signals.receiver_failed, self.sender, "receiver_failed", kwargs), receivers


def _traced_async() -> Callable[[Fire, LiveReceivers], Awaitable[None]]:
    """Return the traced dispatch (its module imports OpenTelemetry: only when it is on)."""
    from regstack_django.observability import tracing

    return tracing.dispatch_async


def _traced_sync() -> Callable[[Fire, LiveReceivers], None]:
    from regstack_django.observability import tracing

    return tracing.dispatch_sync


def _observed_and_muted(event: str, sender: object, kwargs: dict[str, Any]) -> bool:
    muted = False
    for observer in list(fire_observers):
        muted = observer(event, sender, kwargs) or muted
    return muted


def _reserved_error(event: str, kwargs: dict[str, Any]) -> TypeError:
    name = "sender" if "sender" in kwargs else "signal"
    return TypeError(
        f"regstack event {event!r} cannot carry a {name!r} argument: Django "
        f"passes {name!r} to every receiver itself."
    )


def _raise_if_loud(event: str, failures: list[ReceiverFailure]) -> None:
    if conf.REGSTACK_HOOKS_RAISE_ERRORS:
        names = ", ".join(f.receiver for f in failures)
        raise ExceptionGroup(
            f"{len(failures)} receiver(s) of regstack event {event!r} failed: {names}",
            [f.exception for f in failures if isinstance(f.exception, Exception)],
        )


def _kwargs_only(handler: Handler) -> Callable[..., Any]:
    """Return a Django receiver that calls a regstack-style (``**kwargs`` only) handler.

    It drops ``context``: regstack's handlers get exactly regstack's arguments.
    """
    receiver: Callable[..., Any]
    if iscoroutinefunction(handler):

        async def receiver(
            sender: object, signal: object = None, context: object = None, **kwargs: Any
        ) -> None:
            await handler(**kwargs)

    else:

        def receiver(
            sender: object, signal: object = None, context: object = None, **kwargs: Any
        ) -> None:
            handler(**kwargs)

    setattr(receiver, NAME_ATTRIBUTE, receiver_name(handler))
    setattr(receiver, SOURCE_ATTRIBUTE, "registry.on")
    return receiver
