"""One ``event_id`` per fire, shared by every background entry of that fire.

A fire of a signal that has background entries (:mod:`regstack_django.wiring`
keeps :data:`SIGNALS`) opens a holder in a context variable; the first
background receiver to ask draws a UUID and every other one of the same fire
gets the same id: they run as tasks of that fire, whose copied contexts share
the holder, on one event loop (no await between the test and the draw). Fires
of other signals pay one set-membership test and nothing else.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token

from django.dispatch import Signal

#: Signals with at least one background entry connected (kept by wiring).
SIGNALS: set[Signal] = set()

_holder: ContextVar[list[str] | None] = ContextVar("regstack_django_event_id", default=None)


def open_fire() -> Token[list[str] | None]:
    """Start a fire's id scope; pass the token to :func:`close_fire`."""
    return _holder.set([])


def close_fire(token: Token[list[str] | None]) -> None:
    _holder.reset(token)


def current() -> str:
    """This fire's ``event_id`` (hex UUID), drawn on first use.

    Outside a fire's scope (a background receiver called directly, say) every
    call draws a new id.
    """
    holder = _holder.get()
    if holder is None:
        return uuid.uuid4().hex
    if not holder:
        holder.append(uuid.uuid4().hex)
    return holder[0]
