"""A small per-process cache of verified tokens that every revocation seen here empties at once.

Keyed by a hash of the token (never the token); bounded in size and in age (``cache_seconds``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

#: Entries kept at most; the oldest half goes when it is full.
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Verified:
    """A token regstack accepted: its user and its decoded claims."""

    regstack_user: Any
    payload: Any


@dataclass(frozen=True, slots=True)
class _Entry:
    verified: Verified
    owner: object
    user_id: str
    generation: int
    fresh_until: float
    expires_at: float


class TokenCache:
    """Verified tokens, refused the moment :meth:`revoke_user` hears of their user's revocation."""

    def __init__(self) -> None:
        self._entries: dict[bytes, _Entry] = {}
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> bytes:
        """Return the cache key of ``token``."""
        return hashlib.sha256(token.encode()).digest()

    def generation(self, user_id: str) -> int:
        """Return how often ``user_id`` was revoked: read before checking, pass to :meth:`put`."""
        return self._generations.get(user_id, 0)

    def get(self, key: bytes, owner: object) -> Verified | None:
        """Return the fresh, unrevoked, unexpired entry ``owner`` (a RegStack) made for ``key``."""
        entry = self._entries.get(key)
        if entry is None or entry.owner is not owner:
            return None
        now = time.monotonic()
        if (
            now >= entry.fresh_until
            or time.time() >= entry.expires_at
            or self._generations.get(entry.user_id, 0) != entry.generation
        ):
            self._entries.pop(key, None)
            return None
        return entry.verified

    def put(
        self, key: bytes, owner: object, verified: Verified, generation: int, seconds: float
    ) -> None:
        """Keep ``verified`` for ``seconds``, unless its user was revoked since ``generation``."""
        user_id = str(verified.payload.sub)
        entry = _Entry(
            verified,
            owner,
            user_id,
            generation,
            time.monotonic() + seconds,
            verified.payload.exp.timestamp(),
        )
        with self._lock:
            if self._generations.get(user_id, 0) != generation:
                return  # revoked while we checked: the next request checks again
            if len(self._entries) >= MAX_ENTRIES:
                for old in list(self._entries)[: MAX_ENTRIES // 2]:
                    self._entries.pop(old, None)
            self._entries[key] = entry

    def revoke_user(self, user_id: str) -> None:
        """Forget every entry of ``user_id`` (logout, password or e-mail change, deletion)."""
        with self._lock:
            self._generations[user_id] = self._generations.get(user_id, 0) + 1

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._generations.clear()


#: The process's cache.
tokens = TokenCache()
