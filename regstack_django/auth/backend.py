"""``RegStackBackend``: ``authenticate(request, regstack_token=...)``, and Django's permissions."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from regstack_django.auth.middleware import aauthenticate_token


class RegStackBackend(ModelBackend):
    """A regstack access token authenticates its linked Django user; permissions as ModelBackend."""

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, regstack_token: str | None = None, **kwargs: Any
    ) -> Any:
        """Return the linked user for a token regstack accepts, else ``None``."""
        if not regstack_token:
            return None
        return async_to_sync(aauthenticate_token)(regstack_token)[0]

    async def aauthenticate(  # type: ignore[override]
        self, request: HttpRequest | None, regstack_token: str | None = None, **kwargs: Any
    ) -> Any:
        """Return the linked user for a token regstack accepts, else ``None``."""
        if not regstack_token:
            return None
        return (await aauthenticate_token(regstack_token))[0]
