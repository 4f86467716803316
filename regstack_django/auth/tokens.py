"""Check a bearer token with regstack's own pieces, as its ``current_user`` dependency does.

Signature and expiry (its JWT codec), the logout blacklist, an active user, bulk revocation.
"""

from __future__ import annotations

import logging
from typing import Any

from regstack_django.auth import cache, rules
from regstack_django.auth.cache import Verified

logger = logging.getLogger("regstack_django.auth")


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def averify(token: str) -> Verified | None:
    """Return regstack's user and claims for ``token``, or ``None`` if regstack would refuse it.

    Never raises, and never logs the token or why it was refused.
    """
    from regstack.auth.jwt import TokenError

    from regstack_django.hosting.instance import get_regstack

    try:
        regstack = get_regstack()
        try:
            payload = regstack.jwt.decode(token)
        except TokenError:
            return None
        return await acheck(regstack, payload, cache.token_key(cache.scope(regstack), token))
    except Exception as exc:  # a database or cache outage: refuse, like a 401, never a 500
        logger.warning("regstack could not check a bearer token (%s)", type(exc).__name__)
        return None


async def acheck(regstack: Any, payload: Any, key: str) -> Verified | None:
    """Return regstack's user if the decoded ``payload`` still stands (the cache, else regstack)."""
    from regstack.auth.jwt import is_payload_bulk_revoked

    seconds = rules.current().cache_seconds
    where = cache.scope(regstack)
    mark = None
    if seconds > 0:
        found, mark = await cache.alookup(where, key, payload.sub)
        if found is not None:
            return found
    if await regstack.blacklist.is_revoked(payload.jti):
        return None
    user = await regstack.users.get_by_id(payload.sub)
    if user is None or not user.is_active:
        return None
    if is_payload_bulk_revoked(payload, user.tokens_invalidated_after):
        return None
    verified = Verified(user, payload)
    if seconds > 0:
        # Tagged with the mark read BEFORE regstack's rows: a revocation in between moved it.
        await cache.astore(key, verified, mark, seconds)
    return verified
