"""Send ``login_failed`` for each failed password sign-in through regstack's ``POST /login``.

Reads the route's answer, after it is sent; never keeps the password (docs/observability.md).
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any, Final

from regstack_django.hosting.request import App, Message, Receive, Scope, Send

logger = logging.getLogger("regstack_django")

#: What regstack 0.9's login route answers, by which the reason is told apart.
LOCKED_OUT_DETAIL: Final = "Too many failed attempts."
INACTIVE_DETAIL: Final = "Account is disabled."
NOT_VERIFIED_DETAIL: Final = "Email address has not been verified."
_ROUTE_WORDS: Final = (LOCKED_OUT_DETAIL, INACTIVE_DETAIL, NOT_VERIFIED_DETAIL, '"/login"')

#: A sign-in body is an address and a password: more than this is not read for the address.
MAX_BODY: Final = 16 * 1024
#: Enough of a 403/429 answer to read its ``detail``.
MAX_ANSWER: Final = 4 * 1024


def login_route_problem() -> str | None:
    """Return why regstack's login route may not be the shape this bridge reads, or ``None``."""
    try:
        from regstack.routers import login
    except ImportError:
        return None  # regstack is not installed: there is no route to watch
    try:
        source = inspect.getsource(login)
    except (OSError, TypeError):
        return "the source of regstack.routers.login cannot be read"
    missing = [words for words in _ROUTE_WORDS if words not in source]
    if missing:
        return f"regstack.routers.login no longer contains {missing}"
    return None


def find_login_route(router: Any, prefix: str = "") -> bool:
    """Return whether regstack's ``router`` has its ``POST /login`` route.

    FastAPI 0.165 keeps an included router as one ``_IncludedRouter`` entry
    (``original_router``); earlier ones copy its routes: both are walked.
    """
    for route in getattr(router, "routes", ()):
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            if find_login_route(included, prefix + (getattr(context, "prefix", "") or "")):
                return True
            continue
        path = prefix + (getattr(route, "path", "") or "")
        if path == "/login" and "POST" in (getattr(route, "methods", None) or ()):
            return True
    return False


def reason_of(status: int, answer: bytes) -> str | None:
    """Return the ``login_failed`` reason of one answer of the route, ``None`` if it is not one."""
    if status == 401:
        return "invalid_credentials"
    if status not in (403, 429):
        return None  # 200 (signed in, or an MFA step), 422 (not a sign-in), 5xx
    try:
        body = json.loads(answer)
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if status == 429 and isinstance(detail, str) and detail.startswith(LOCKED_OUT_DETAIL):
        return "locked_out"
    if status == 429 and isinstance(body, dict) and "error" in body:
        return None  # slowapi's per-route rate limit: refused before any sign-in was tried
    if status == 403 and detail == INACTIVE_DETAIL:
        return "inactive"
    if status == 403 and detail == NOT_VERIFIED_DETAIL:
        return "not_verified"
    _warn_unknown_answer(status)
    return None


_warned: set[int] = set()


def _warn_unknown_answer(status: int) -> None:
    if status in _warned:
        return
    _warned.add(status)
    from regstack.version import __version__

    logger.warning(
        "regstack's POST /login answered %s in a shape this regstack_django does not know "
        "(regstack %s): no login_failed was sent for it. Upgrade regstack_django, or report "
        "it (manage.py check: regstack_django.W045).",
        status,
        __version__,
    )


def email_of(body: bytes) -> str | None:
    """Return the normalised address of a sign-in body; the password is dropped unread."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    email = data.get("email") if isinstance(data, dict) else None
    del data  # it holds the password
    if not isinstance(email, str):
        return None
    from pydantic import validate_email

    try:
        return validate_email(email)[1]  # what regstack's EmailStr looks the account up by
    except Exception:  # pydantic's error for an address regstack would refuse with 422
        return None


class LoginWatch:
    """Per site: start an :class:`Attempt` for each ``POST`` to regstack's login path."""

    def __init__(self, regstack: Any, path: str) -> None:
        from regstack_django.registry import HookRegistry

        self.registry = HookRegistry(sender=regstack)
        self.path = path

    def __call__(self, scope: Scope) -> Attempt | None:
        if scope.get("method") != "POST":
            return None
        path = f"{scope.get('root_path', '')}{scope.get('path', '')}"
        if path not in (self.path, self.path + "/"):
            return None
        return Attempt(self.registry)


class Attempt:
    """One sign-in request: tee its body and answer, then send ``login_failed`` if it failed."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.body: bytearray | None = bytearray()
        self.status = 0
        self.answer = bytearray()

    async def serve(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and self.body is not None:
                self.body += message.get("body", b"")
                if len(self.body) > MAX_BODY:
                    self.body = None
            return message

        async def watch_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body" and self.status in (403, 429):
                self.answer += message.get("body", b"")[: MAX_ANSWER - len(self.answer)]
            await send(message)

        await app(scope, tee_receive, watch_send)
        body, self.body = self.body, None
        reason = reason_of(self.status, bytes(self.answer)) if self.status >= 400 else None
        email = email_of(bytes(body)) if reason is not None and body else None
        del body
        if email is not None:
            await self.registry.fire("login_failed", email=email, reason=reason)
