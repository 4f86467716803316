"""One ``event_id`` per fire, shared by that fire's background entries.

Only fires of a signal with a background entry open a scope
(``wiring.state.background_signals``); the id is drawn on first use.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token

_holder: ContextVar[list[str] | None] = ContextVar("regstack_django_event_id", default=None)


def open_fire() -> Token[list[str] | None]:
    """Start a fire's id scope; pass the token to :func:`close_fire`."""
    return _holder.set([])


def close_fire(token: Token[list[str] | None]) -> None:
    """End the fire's id scope that :func:`open_fire` started."""
    _holder.reset(token)


def current() -> str:
    """Return this fire's ``event_id`` (hex UUID), drawn on first use.

    The background receivers of one fire run as its tasks, whose copied contexts
    share the holder, on one event loop (no await between the test and the draw).
    Outside a fire's scope every call draws a new id.
    """
    holder = _holder.get()
    if holder is None:
        return uuid.uuid4().hex
    if not holder:
        holder.append(uuid.uuid4().hex)
    return holder[0]
