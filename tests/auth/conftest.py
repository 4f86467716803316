"""The auth tests' settings: the middleware after Django's, the backend, the test views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from regstack_django.auth.cache import private
from regstack_django.testing import CapturedEvents
from tests.utils import register_and_verify

PASSWORD = "a-long-enough-password-1"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "regstack_django.auth.RegStackTokenMiddleware",
]


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """regstack's argon2 with cheap parameters: the same code path, a fraction of the CPU.

    Each sign-up hashes twice (register, login); at regstack's defaults that dominated the time.
    """
    import regstack.auth.password as password
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    def cheap(self: password.PasswordHasher) -> None:
        self._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))

    monkeypatch.setattr(password.PasswordHasher, "__init__", cheap)


@pytest.fixture(autouse=True)
def auth_settings(settings: Any) -> Iterator[None]:
    """Autouse, so it runs before ``regstack_client`` builds Django's handler."""
    settings.MIDDLEWARE = MIDDLEWARE
    settings.ROOT_URLCONF = "tests.auth.urls"
    settings.AUTHENTICATION_BACKENDS = ["regstack_django.auth.RegStackBackend"]
    settings.REGSTACK_DJANGO_USERS = {"cache_seconds": 60}
    private.clear()
    yield
    private.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_up(client: httpx.AsyncClient, events: CapturedEvents, email: str) -> str:
    """register -> verify -> login over regstack's routes; return the access token."""
    await register_and_verify(client, events, email, PASSWORD)
    return await login(client, email)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    answer = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token
