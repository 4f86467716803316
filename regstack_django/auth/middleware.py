"""``RegStackTokenMiddleware``: a regstack bearer token makes ``request.user`` its Django user.

Lazy, as Django's ``AuthenticationMiddleware``: nothing is checked until the view asks.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject

from regstack_django.auth import linking, sessions
from regstack_django.auth.tokens import averify, bearer_token

_RESULT = "_regstack_auth"


async def aauthenticate_token(token: str) -> tuple[Any, Any]:
    """Return ``(Django user, regstack user)`` for ``token``, or ``(None, None)`` if refused."""
    verified = await averify(token)
    if verified is None:
        return None, None
    user = await sync_to_async(linking.user_for)(verified.regstack_user)
    if user is None or not user.is_active:
        return None, None
    return user, verified.regstack_user


async def _aresult(request: HttpRequest, token: str) -> tuple[Any, Any]:
    if not hasattr(request, _RESULT):
        user, regstack_user = await aauthenticate_token(token)
        setattr(request, _RESULT, (user or AnonymousUser(), regstack_user))
    result: tuple[Any, Any] = getattr(request, _RESULT)
    return result


class RegStackTokenMiddleware(MiddlewareMixin):
    """Put it after ``django.contrib.auth.middleware.AuthenticationMiddleware``.

    ``Authorization: Bearer <token>``: ``request.user`` / ``await request.auser()`` is the
    linked user, ``request.regstack_user`` regstack's; a refused token gives ``AnonymousUser``.
    Without the header, Django's session user stays, unless the session was opened from a regstack
    sign-in (:mod:`.sessions`) that regstack has since revoked: then it is closed.
    """

    def process_request(self, request: HttpRequest) -> None:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            sessions.guard(request)  # a session opened from a regstack sign-in: still standing?
            return

        async def auser() -> Any:
            return (await _aresult(request, token))[0]

        def result() -> tuple[Any, Any]:
            if not hasattr(request, _RESULT):
                async_to_sync(_aresult)(request, token)
            found: tuple[Any, Any] = getattr(request, _RESULT)
            return found

        request.user = SimpleLazyObject(lambda: result()[0])  # type: ignore[assignment]
        request.auser = auser
        request.regstack_user = SimpleLazyObject(lambda: result()[1])  # type: ignore[attr-defined]
