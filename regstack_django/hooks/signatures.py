"""Whether Django can call a handler with its event's arguments (E006 and E018)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from regstack_django.events import ALL_EVENT_ARGUMENTS, HOOKABLE_EVENTS


def signature_problem(handler: Callable[..., Any], event: str) -> str | None:
    """Return why Django cannot call ``handler(signal=..., sender=..., **event_kwargs)``.

    ``None`` when it can, or when the signature cannot be inspected (some builtins):
    Django's own call is then the judge.
    """
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        return "it does not accept **kwargs"
    required, _optional = ALL_EVENT_ARGUMENTS.get(event, ((), ()))
    supplied = {"sender", "signal", "context", *required}
    for p in params:
        if p.default is not p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.kind is p.POSITIONAL_ONLY:
            return f"its parameter {p.name!r} is positional-only (Django passes keywords)"
        if p.name not in supplied and event in HOOKABLE_EVENTS:
            return f"it requires {p.name!r}, which {event!r} does not always carry"
    return None
