"""Browser sessions: a regstack sign-in opens a Django session that regstack's revocations close.

Opt in with ``REGSTACK_DJANGO_USERS["sessions"] = True`` and the :func:`session` view.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import alogin, alogout, logout
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from regstack_django.auth import cache, linking, rules
from regstack_django.auth.tokens import acheck, averify, bearer_token

#: The session key holding the signed-in token's claims (never the token itself).
CLAIMS = "_regstack_claims"
_CHECKED = "_regstack_session_ok"


@csrf_exempt  # it trusts only the Authorization header, which no cross-site form or fetch sends
@require_http_methods(["POST", "DELETE"])
async def session(request: HttpRequest) -> HttpResponse:
    """POST with ``Authorization: Bearer <token>``: open a Django session; DELETE: close it."""
    if not rules.current().sessions:
        raise Http404
    lacking = rules.session_problems()
    if lacking:  # a session nothing would close: refuse to open it (check E040 says the same)
        raise ImproperlyConfigured(lacking[0])
    if request.method == "DELETE":
        await alogout(request)
        return JsonResponse({"status": "closed"})
    token = bearer_token(request.headers.get("Authorization"))
    verified = await averify(token) if token else None
    user = (
        None if verified is None else await sync_to_async(linking.user_for)(verified.regstack_user)
    )
    if verified is None or user is None or not user.is_active:
        return JsonResponse({"detail": "Not signed in to regstack."}, status=401)
    payload = verified.payload
    await alogin(request, user, backend=rules.BACKEND_PATH)
    await request.session.aset(
        CLAIMS,
        {
            "sub": str(payload.sub),
            "jti": payload.jti,
            "iat": payload.iat.timestamp(),
            "exp": payload.exp.timestamp(),
            "purpose": payload.purpose,
        },
    )
    # The session ends when the token does: it never outlives what regstack granted.
    await sync_to_async(request.session.set_expiry)(payload.exp)
    return JsonResponse({"status": "open", "expires": payload.exp.isoformat()})


async def astands(request: HttpRequest) -> bool:
    """Whether the session's regstack sign-in still stands (true for a session not opened here)."""
    if hasattr(request, _CHECKED):
        return bool(getattr(request, _CHECKED))
    claims = await request.session.aget(CLAIMS)
    ok = claims is None or await _aclaims_stand(claims)
    setattr(request, _CHECKED, ok)
    return ok


async def _aclaims_stand(claims: dict[str, Any]) -> bool:
    from regstack.auth.jwt import TokenPayload

    from regstack_django.hosting.instance import get_regstack

    try:
        utc = dt.UTC
        payload = TokenPayload(
            sub=claims["sub"],
            jti=claims["jti"],
            iat=dt.datetime.fromtimestamp(claims["iat"], utc),
            exp=dt.datetime.fromtimestamp(claims["exp"], utc),
            purpose=claims["purpose"],
        )
        if payload.exp <= dt.datetime.now(utc):
            return False
        regstack = get_regstack()
        key = f"{cache.PREFIX}:{cache.scope(regstack)}:s:{payload.jti}"
        return await acheck(regstack, payload, key) is not None
    except Exception:  # a malformed session or an outage: closed, never a 500
        return False


def guard(request: HttpRequest) -> None:
    """Make ``request.user`` and ``request.auser()`` anonymous once regstack revoked the sign-in."""
    if not hasattr(request, "session") or not hasattr(request, "auser"):
        return  # no sessions, or no AuthenticationMiddleware (W040 reports the order)
    django_user, django_auser = request.user, request.auser

    def restore() -> None:  # Django's logout reads request.user / request.auser
        request.user, request.auser = django_user, django_auser

    async def auser() -> Any:
        if await astands(request):
            return await django_auser()
        restore()
        await alogout(request)
        return AnonymousUser()

    def user() -> Any:
        if async_to_sync(astands)(request):
            getattr(django_user, "pk", None)  # evaluate Django's lazy user
            return getattr(django_user, "_wrapped", django_user)
        restore()
        logout(request)
        return AnonymousUser()

    request.user = SimpleLazyObject(user)  # type: ignore[assignment]
    request.auser = auser
