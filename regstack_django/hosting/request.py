"""Capture each request's ``EventContext`` for the events fired while serving it.

An ASGI middleware around the whole site (docs/observability.md, "Request context").
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from django.core.signals import setting_changed

from regstack_django.conf import CONTEXT_SETTINGS, DEFAULT_REQUEST_ID_HEADER, conf
from regstack_django.context import EventContext, _current
from regstack_django.observability import switch

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A header name as RFC 9110 spells a token.
HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: An incoming request id is kept when it looks like one; otherwise a new one is drawn.
REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
#: A path segment that looks like a credential (a reset token, a signed value) is replaced.
TOKEN_SEGMENT: Final = re.compile(r"(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_.=~-]{20,}")
REDACTED_SEGMENT: Final = "[redacted]"
MAX_USER_AGENT: Final = 512


@dataclass(frozen=True)
class RequestSettings:
    """The parsed request-context settings (built once per settings change)."""

    proxies: tuple[Network, ...]
    request_id_header: str
    request_id_key: bytes


def parse_proxies(value: object) -> tuple[Network, ...]:
    """Return ``REGSTACK_TRUSTED_PROXIES`` as networks; raise ``ValueError`` naming a bad one."""
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ValueError(f"it must be a list of addresses or networks, not {value!r}")
    networks = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not an address or network (a str)")
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def valid_header_name(value: object) -> bool:
    """Whether ``value`` can name an HTTP header."""
    return isinstance(value, str) and HEADER_NAME.fullmatch(value) is not None


@cache
def request_settings() -> RequestSettings:
    """Return the parsed settings; an invalid one falls back to its default (E045/E046)."""
    try:
        proxies = parse_proxies(conf.REGSTACK_TRUSTED_PROXIES)
    except ValueError:
        proxies = ()  # believe no X-Forwarded-For rather than the wrong one
    header = conf.REGSTACK_REQUEST_ID_HEADER
    if not valid_header_name(header):
        header = DEFAULT_REQUEST_ID_HEADER
    return RequestSettings(proxies, header, header.lower().encode("latin-1"))


def _forget_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in CONTEXT_SETTINGS:
        request_settings.cache_clear()


setting_changed.connect(_forget_settings, weak=False, dispatch_uid="regstack_django.request")


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_ip(
    peer: str | None, forwarded_for: list[str], proxies: tuple[Network, ...]
) -> str | None:
    """Return the client's address: the peer, or the rightmost untrusted ``X-Forwarded-For`` hop.

    ``X-Forwarded-For`` is read only when the peer is a trusted proxy; each
    trusted hop is skipped from the right, and a malformed hop stops the walk
    at the last address that was trusted.
    """
    if peer is None or not proxies or not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    nearest = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return nearest
        if not _trusted(hop, proxies):
            return hop
        nearest = hop
    return nearest  # every hop is a proxy of ours: the leftmost is the best we know


def safe_path(scope: Scope) -> str:
    """Return the request's path without its query string, credential-like segments replaced."""
    path = f"{scope.get('root_path', '')}{scope.get('path', '')}" or "/"
    return TOKEN_SEGMENT.sub(REDACTED_SEGMENT, path)


def context_of(scope: Scope, request_id: str, settings: RequestSettings) -> EventContext:
    """Return the ``EventContext`` of one HTTP request."""
    user_agent: str | None = None
    forwarded_for: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            user_agent = value.decode("latin-1")[:MAX_USER_AGENT]
        elif name == b"x-forwarded-for":
            forwarded_for.append(value.decode("latin-1"))
    peer = scope.get("client")
    return EventContext(
        client_ip=client_ip(peer[0] if peer else None, forwarded_for, settings.proxies),
        user_agent=user_agent,
        request_id=request_id,
        method=scope.get("method"),
        path=safe_path(scope),
    )


def request_id_of(scope: Scope, settings: RequestSettings) -> str:
    """Return the request id the client (or its proxy) sent, or a new one."""
    for name, value in scope.get("headers", ()):
        if name == settings.request_id_key:
            sent: str = value.decode("latin-1")
            if REQUEST_ID.fullmatch(sent):
                return sent
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Set the current ``EventContext`` around each HTTP request; echo its request id."""

    def __init__(self, app: App, on_request: Callable[[Scope], Any] | None = None) -> None:
        """Wrap ``app``; ``on_request(scope)`` may return a per-request watcher (the login's)."""
        self.app = app
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = request_settings()
        request_id = request_id_of(scope, settings)
        context = context_of(scope, request_id, settings)
        echo = (settings.request_id_key, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == echo[0] for name, _ in headers):
                    headers.append(echo)
                message["headers"] = headers
            await send(message)

        if switch.on:  # FastAPI's own tracing continues the headers only, not the current span
            from regstack_django.observability.handoff import continue_current_trace

            continue_current_trace(scope)
        watcher = self.on_request(scope) if self.on_request is not None else None
        token = _current.set(context)
        try:
            if watcher is None:
                await self.app(scope, receive, send_with_id)
            else:
                await watcher.serve(self.app, scope, receive, send_with_id)
        finally:
            _current.reset(token)
