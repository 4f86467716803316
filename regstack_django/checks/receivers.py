"""Check ``@receiver`` functions on regstack's signals the way settings handlers are checked.

A settings entry that cannot take its event's arguments stops start-up
(E006); the same function connected with ``@receiver`` would only fail when
the event fires, inside a request that regstack answers with a 200 anyway.
This applies :func:`regstack_django.handlers.signature_problem` to every
receiver connected to the 20 signals (E018), except those the app connected
itself: settings entries (already E006) and ``HookRegistry.on`` adapters.
"""

from __future__ import annotations

from django.core.checks import CheckMessage

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.events import KNOWN_EVENTS
from regstack_django.failures import receiver_name
from regstack_django.hooks.entries import signature_problem
from regstack_django.registry import SOURCE_ATTRIBUTE
from regstack_django.signals import signal_for

_SETTINGS_UID = "regstack_django.settings:"


def receiver_problems() -> list[CheckMessage]:
    """E018 for every connected receiver its event cannot call, in event order."""
    from regstack_django.management.commands.regstack_hooks import signal_receivers

    found = []
    for event in sorted(KNOWN_EVENTS):
        for connected in signal_receivers(signal_for(event)):
            uid = connected.lookup_key[0]
            if isinstance(uid, str) and uid.startswith(_SETTINGS_UID):
                continue
            if getattr(connected.receiver, SOURCE_ATTRIBUTE, None) == "registry.on":
                continue
            why = signature_problem(connected.receiver, event)
            if why is not None:
                found.append(
                    problem(
                        messages.E018,
                        f"The receiver {receiver_name(connected.receiver)} of "
                        f"regstack_django.signals.{event} cannot be called with the event's "
                        f"arguments: {why}.",
                    )
                )
    return found
