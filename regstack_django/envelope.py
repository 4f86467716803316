"""The signed message a background task carries: who to call, with what.

A task argument is one string, ``django.core.signing`` over
``{"handler": dotted path, "durable": bool, "payload": {...}}`` (keyed by
``SECRET_KEY``, honouring ``SECRET_KEY_FALLBACKS`` for key rotation, salted
for this use only). Anyone who can write to the queue or to the outbox table
can still *delete* a message, but cannot make a worker run a handler it did
not sign, or change what the handler receives: :func:`open_envelope` raises
:class:`UntrustedMessage` and nothing runs.

Signed, not encrypted: the payload is as readable in the queue as before
(public user fields, no token URL unless a handler opts in).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from django.core import signing
from django.core.signals import setting_changed

SALT: Final = "regstack_django.background.v2"
_KEYS: Final = frozenset({"handler", "durable", "payload"})


class UntrustedMessage(ValueError):
    """A task message this app did not sign, or not in the shape it signs."""


@cache
def _signer() -> signing.Signer:
    """One signer per key set: building it reads ``SECRET_KEY``, so not on every fire."""
    return signing.Signer(salt=SALT)


def _forget_signer(*, setting: str, **kwargs: Any) -> None:
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS"}:
        _signer.cache_clear()


setting_changed.connect(_forget_signer, weak=False, dispatch_uid="regstack_django.envelope")


def seal(handler: str, durable: bool, payload: dict[str, Any]) -> str:
    """The signed task argument for one delivery."""
    return _signer().sign_object({"handler": handler, "durable": durable, "payload": payload})


def open_envelope(message: object) -> tuple[str, bool, dict[str, Any]]:
    """``(handler, durable, payload)`` from a signed message, or :class:`UntrustedMessage`."""
    if not isinstance(message, str):
        raise UntrustedMessage(
            f"The task argument is a {type(message).__name__}, not a signed regstack_django "
            "message: nothing was run."
        )
    try:
        content = _signer().unsign_object(message)
    except signing.BadSignature:
        raise UntrustedMessage(
            "The task message's signature does not match (tampered, or signed with another "
            "SECRET_KEY): nothing was run."
        ) from None
    except Exception:  # signed but undecodable: we never sign such a thing
        raise UntrustedMessage("The task message cannot be decoded: nothing was run.") from None
    if not isinstance(content, dict) or set(content) != _KEYS:
        raise UntrustedMessage("The task message has the wrong shape: nothing was run.")
    handler, durable, payload = content["handler"], content["durable"], content["payload"]
    if not isinstance(handler, str) or not isinstance(durable, bool):
        raise UntrustedMessage("The task message has the wrong shape: nothing was run.")
    return handler, durable, payload
