"""The signed message a background task carries: which handler, durable or not, and the payload.

Signed with ``SECRET_KEY`` (and its fallbacks), not encrypted: whoever writes to the queue
can delete a message but not make a worker run or receive anything it did not sign.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from django.core import signing
from django.core.signals import setting_changed

# A signing salt, not a module path: changing it invalidates every queued message and row.
SALT: Final = "regstack_django.background.v2"
_KEYS: Final = frozenset({"handler", "durable", "payload"})


class UntrustedMessage(ValueError):
    """A task message this app did not sign, or not in the shape it signs."""


@cache
def _signer() -> signing.Signer:
    """Return the signer, built once per key set (building it reads ``SECRET_KEY``)."""
    return signing.Signer(salt=SALT)


def _forget_signer(*, setting: str, **kwargs: Any) -> None:
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS"}:
        _signer.cache_clear()


setting_changed.connect(_forget_signer, weak=False, dispatch_uid="regstack_django.envelope")


def seal(handler: str, durable: bool, payload: dict[str, Any]) -> str:
    """Return the signed task argument for one delivery."""
    return _signer().sign_object({"handler": handler, "durable": durable, "payload": payload})


def open_envelope(message: object) -> tuple[str, bool, dict[str, Any]]:
    """Return ``(handler, durable, payload)`` of a signed message, or raise UntrustedMessage."""
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
