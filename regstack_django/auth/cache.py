"""Checked tokens in Django's cache framework, refused once their user's revocation mark moves.

Keys hold a hash of the token (never the token). Alias: ``REGSTACK_DJANGO_USERS["cache"]``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from regstack_django.auth import rules

PREFIX = "regstack_django.auth"

#: The default: this process's own memory, apart from the project's caches.
private = LocMemCache(PREFIX, {"OPTIONS": {"MAX_ENTRIES": 10_000}})


@dataclass(frozen=True, slots=True)
class Verified:
    """A token regstack accepted: its user and its decoded claims."""

    regstack_user: Any
    payload: Any


def backend() -> BaseCache:
    """Return the cache the settings name (the private one by default)."""
    alias = rules.current().cache
    return private if alias is None else caches[alias]


def scope(regstack: Any) -> str:
    """Return a key part that is the same for one regstack in every process, and differs across."""
    config = regstack.config
    seed = f"{config.jwt_secret.get_secret_value()}\0{config.database_url.get_secret_value()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def token_key(where: str, token: str) -> str:
    """Return the cache key of ``token``'s entry."""
    return f"{PREFIX}:{where}:t:{hashlib.sha256(token.encode()).hexdigest()}"


def mark_key(where: str, user_id: str) -> str:
    """Return the cache key of ``user_id``'s revocation mark."""
    return f"{PREFIX}:{where}:r:{hashlib.sha256(user_id.encode()).hexdigest()}"


async def _aget_many(cache: BaseCache, keys: list[str]) -> dict[str, Any]:
    if isinstance(cache, LocMemCache):  # memory only: no I/O to move off the event loop
        return cache.get_many(keys)
    return await cache.aget_many(keys)


async def alookup(where: str, key: str, user_id: str) -> tuple[Verified | None, Any]:
    """Return the entry at ``key`` if ``user_id``'s mark has not moved since, and the mark now."""
    cache = backend()
    mark = mark_key(where, user_id)
    found = await _aget_many(cache, [key, mark])
    entry, now = found.get(key), found.get(mark)
    if entry is not None and entry[0] == now:
        return entry[1], now
    return None, now


async def astore(key: str, verified: Verified, mark: Any, seconds: float) -> None:
    """Keep ``verified`` for ``seconds`` (at most until it expires), tagged with ``mark``."""
    timeout = min(seconds, verified.payload.exp.timestamp() - time.time())
    if timeout <= 0:
        return
    cache = backend()
    if isinstance(cache, LocMemCache):
        cache.set(key, (mark, verified), timeout)
    else:
        await cache.aset(key, (mark, verified), timeout)


def revoke_user(where: str, user_id: str) -> None:
    """Move ``user_id``'s mark: every entry kept for the user is refused from now on."""
    # A fresh random mark, not a counter: two processes revoking at once can never write back a
    # mark an entry holds. It outlives every entry (cache_seconds is at most 300).
    backend().set(mark_key(where, user_id), secrets.token_hex(8), rules.MAX_CACHE_SECONDS + 60)
