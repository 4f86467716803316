"""The signed, timed message a background task carries: which handler, durable or not, the payload.

Signed with ``SECRET_KEY`` (and its fallbacks), not encrypted; docs/background.md, "Replays".
"""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import Any, Final, NamedTuple

from django.core import signing
from django.core.signals import setting_changed

from regstack_django.conf import MESSAGE_MAX_AGE_SETTING, conf

# A signing salt, not a module path: changing it invalidates every queued message and row.
SALT: Final = "regstack_django.background.v2"
_KEYS: Final = frozenset({"handler", "durable", "payload"})
#: ``meta`` is optional: messages sealed before it existed still open (``Opened.meta`` is ``{}``).
_KEYS_WITH_META: Final = _KEYS | {"meta"}


logger = logging.getLogger("regstack_django")


class UntrustedMessage(ValueError):
    """A task message this app did not sign, or not in the shape it signs."""


class ExpiredMessage(UntrustedMessage):
    """A plain background message signed longer ago than ``REGSTACK_MESSAGE_MAX_AGE``."""


class Opened(NamedTuple):
    """A verified message; ``signed_at`` is ``None`` for one sealed before messages were timed."""

    handler: str
    durable: bool
    payload: dict[str, Any]
    signed_at: int | None
    #: What travels beside the payload: ``"context"`` (an ``EventContext.as_dict()``),
    #: ``"trace"`` (the OpenTelemetry carrier). Never a secret: it is signed, not encrypted.
    meta: dict[str, Any] = {}


@cache
def _signer() -> signing.TimestampSigner:
    """Return the signer, built once per key set (building it reads ``SECRET_KEY``)."""
    return signing.TimestampSigner(salt=SALT)


@cache
def _untimed_signer() -> signing.Signer:
    """Return the signer of messages sealed before they carried a time (same key and salt)."""
    return signing.Signer(salt=SALT)


def _forget_signer(*, setting: str, **kwargs: Any) -> None:
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS"}:
        _signer.cache_clear()
        _untimed_signer.cache_clear()


setting_changed.connect(_forget_signer, weak=False, dispatch_uid="regstack_django.envelope")


def seal(
    handler: str, durable: bool, payload: dict[str, Any], meta: dict[str, Any] | None = None
) -> str:
    """Return the signed task argument for one delivery, stamped with the time it is signed.

    ``meta`` (JSON-ready, optional) is signed with it and comes back as ``Opened.meta``.
    """
    content: dict[str, Any] = {"handler": handler, "durable": durable, "payload": payload}
    if meta:
        content["meta"] = meta
    return _signer().sign_object(content)


def open_envelope(message: object) -> tuple[str, bool, dict[str, Any]]:
    """Return ``(handler, durable, payload)`` of a signed message, or raise UntrustedMessage."""
    opened = unseal(message)
    return opened.handler, opened.durable, opened.payload


def unseal(message: object) -> Opened:
    """Verify and decode a message, timed or not (its age is :func:`refuse_stale`'s job)."""
    if not isinstance(message, str):
        raise UntrustedMessage(
            f"The task argument is a {type(message).__name__}, not a signed regstack_django "
            "message: nothing was run."
        )
    try:
        # The signature covers "value:time" (timed) or "value" (untimed): verify it first,
        # then decode with the signer that sealed it. A value never holds the separator.
        signed_value = _untimed_signer().unsign(message)
        timed = _signer().sep in signed_value
        signer = _signer() if timed else _untimed_signer()
        content = signer.unsign_object(message)
        signed_at = signing.b62_decode(signed_value.rsplit(signer.sep, 1)[1]) if timed else None
    except signing.BadSignature:
        raise UntrustedMessage(
            "The task message's signature does not match (tampered, or signed with another "
            "SECRET_KEY): nothing was run. If SECRET_KEY was rotated, put the old key in "
            "SECRET_KEY_FALLBACKS until the task queue and the outbox have drained."
        ) from None
    except Exception:  # signed but undecodable: we never sign such a thing
        raise UntrustedMessage("The task message cannot be decoded: nothing was run.") from None
    if not isinstance(content, dict) or set(content) not in (_KEYS, _KEYS_WITH_META):
        raise UntrustedMessage("The task message has the wrong shape: nothing was run.")
    handler, durable, payload = content["handler"], content["durable"], content["payload"]
    meta = content.get("meta", {})
    if not isinstance(handler, str) or not isinstance(durable, bool) or not isinstance(meta, dict):
        raise UntrustedMessage("The task message has the wrong shape: nothing was run.")
    return Opened(handler, durable, payload, signed_at, meta)


def refuse_stale(opened: Opened, now: float | None = None) -> None:
    """Raise ExpiredMessage for a plain message past the max age; warn once for an untimed one.

    Durable messages have no age limit: their outbox row runs them once, however late.
    """
    if opened.durable:
        return
    if opened.signed_at is None:
        logger.warning(
            "regstack worker: a plain background message for %s was signed without a time by "
            "an earlier regstack_django, so a replay of it cannot be refused by age. It runs "
            "now; drain the queues of such messages, after which every message is timed.",
            opened.handler,
        )
        return
    age = (time.time() if now is None else now) - opened.signed_at
    max_age = conf.seconds(MESSAGE_MAX_AGE_SETTING)
    if age > max_age:
        raise ExpiredMessage(
            f"The task message for {opened.handler} was signed {age:.0f} s ago, more than "
            f"{MESSAGE_MAX_AGE_SETTING} ({max_age:.0f} s): a plain background message that "
            "old is refused as a possible replay, nothing was run. Re-fire the event if it "
            f"must still run, or raise {MESSAGE_MAX_AGE_SETTING} if your queue lags that long."
        )
