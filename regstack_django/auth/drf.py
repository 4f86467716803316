"""``RegStackAuthentication``: the DRF authentication class (extra ``drf``)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from regstack_django.auth.middleware import aauthenticate_token
from regstack_django.auth.tokens import bearer_token


class RegStackAuthentication(BaseAuthentication):  # type: ignore[misc]
    """``Authorization: Bearer <regstack token>``: ``request.user`` and ``request.auth``.

    ``request.auth`` is regstack's user. A refused token is a 401 that never says why.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        user, regstack_user = async_to_sync(aauthenticate_token)(token)
        if user is None:
            raise AuthenticationFailed("Invalid or expired token.")
        return user, regstack_user

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
