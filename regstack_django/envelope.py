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

from typing import Any, Final

from django.core import signing

SALT: Final = "regstack_django.background.v2"
_KEYS: Final = frozenset({"handler", "durable", "payload"})


class UntrustedMessage(ValueError):
    """A task message this app did not sign, or not in the shape it signs."""


def seal(handler: str, durable: bool, payload: dict[str, Any]) -> str:
    """The signed task argument for one delivery."""
    return signing.Signer(salt=SALT).sign_object(
        {"handler": handler, "durable": durable, "payload": payload}
    )


def open_envelope(message: object) -> tuple[str, bool, dict[str, Any]]:
    """``(handler, durable, payload)`` from a signed message, or :class:`UntrustedMessage`."""
    if not isinstance(message, str):
        raise UntrustedMessage(
            f"The task argument is a {type(message).__name__}, not a signed regstack_django "
            "message: nothing was run."
        )
    try:
        content = signing.Signer(salt=SALT).unsign_object(message)
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
