"""E018: ``@receiver`` functions on regstack's signals that their event cannot call.

A settings entry with the same mistake stops start-up (E006); a receiver would
only fail when the event fires, inside a request regstack still answers with a 200.
"""

from __future__ import annotations

from django.core.checks import CheckMessage

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.events import EVENT_ARGUMENTS, KNOWN_EVENTS
from regstack_django.failures import receiver_name
from regstack_django.hooks.introspect import from_registry_on, signal_receivers
from regstack_django.hooks.signatures import signature_problem
from regstack_django.signals import signal_for

_SETTINGS_UID = "regstack_django.settings:"


def receiver_problems() -> list[CheckMessage]:
    """Return E018 for every connected receiver its event cannot call, in event order.

    Settings entries (already E006) and ``HookRegistry.on`` adapters are skipped.
    """
    found = []
    for event in sorted(KNOWN_EVENTS):
        for connected in signal_receivers(signal_for(event)):
            uid = connected.lookup_key[0]
            if isinstance(uid, str) and uid.startswith(_SETTINGS_UID):
                continue
            if from_registry_on(connected.receiver):
                continue
            why = signature_problem(connected.receiver, event)
            if why is not None:
                found.append(
                    problem(
                        messages.E018,
                        f"The receiver {receiver_name(connected.receiver)} of "
                        f"regstack_django.signals.{event} cannot be called with the event's "
                        f"arguments: {why}.",
                        arguments=_carried(event),
                    )
                )
    return found


def _carried(event: str) -> str:
    """Return the arguments ``event`` carries, the optional ones as ``kwargs.get(...)``."""
    required, optional = EVENT_ARGUMENTS[event]
    always = ", ".join(required) or "no argument always"
    sometimes = ", ".join(f"kwargs.get({name!r})" for name in optional)
    return f"{always}; sometimes {sometimes}" if sometimes else always
