"""The tour's HTTP client: requests recorded one by one, secrets read from the outboxes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from regstack.email.console import ConsoleEmailService
from regstack.sms.null import NullSmsService

from support.tour.provider import STANDIN_PROVIDER, StandInProvider

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from regstack import RegStack
    from regstack.oauth import OAuthUserInfo

# The token in a verification / reset / email-change link (urlsafe base64 or a JWT).
_LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9._~%-]+)")


class TourStep(NamedTuple):
    """One HTTP request of the tour (the path carries no query string, so no secrets)."""

    method: str
    path: str
    status: int


@dataclass(frozen=True, slots=True)
class TourResult:
    """What a finished tour did, for callers that assert on it or print a summary.

    Only the admin still exists afterwards: the main user deletes their own
    account and the admin deletes the OAuth-created user.
    """

    email: str
    """The address the main user registered with."""
    changed_email: str
    """The main user's address after the email change."""
    oauth_email: str
    """The address of the user the OAuth sign-in created."""
    admin_email: str
    main_user_id: str
    oauth_user_id: str
    admin_user_id: str
    steps: list[TourStep]


class TourClient:
    """The HTTP client, the regstack instance and the record of requests made so far."""

    def __init__(self, client: httpx.AsyncClient, rs: RegStack, say: Callable[[str], None]) -> None:
        if not isinstance(rs.email, ConsoleEmailService):
            raise TypeError("run_tour reads email tokens from ConsoleEmailService.outbox")
        if not isinstance(rs.sms, NullSmsService):
            raise TypeError("run_tour reads SMS codes from NullSmsService.outbox")
        if STANDIN_PROVIDER not in rs.oauth:
            raise LookupError("call register_standin_provider(rs) before building the router")
        provider = rs.oauth.get(STANDIN_PROVIDER)
        if not isinstance(provider, StandInProvider):
            raise TypeError(f"provider {STANDIN_PROVIDER!r} is not a StandInProvider")
        self.client = client
        self.rs = rs
        self.say = say
        self.provider = provider
        self.mail_outbox = rs.email.outbox
        self.sms_outbox = rs.sms.outbox
        self.prefix = rs.config.api_prefix.rstrip("/")
        self.steps: list[TourStep] = []

    async def request(
        self,
        label: str,
        method: str,
        route: str,
        *,
        expect: int,
        token: str | None = None,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request to ``route`` under the API prefix and insist on its status."""
        path = f"{self.prefix}{route}"
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        response = await self.client.request(
            method, path, json=json, params=params, headers=headers, follow_redirects=False
        )
        self.steps.append(TourStep(method, path, response.status_code))
        self.say(f"{label} -> {response.status_code}")
        if response.status_code != expect:
            raise AssertionError(
                f"{method} {path} answered HTTP {response.status_code}, expected {expect}: "
                f"{response.text or response.headers.get('location', '')}"
            )
        return response

    def mailed_token(self, to: str, since: int) -> str:
        """Return the link token of the newest email to ``to`` among ``outbox[since:]``."""
        for message in reversed(self.mail_outbox[since:]):
            if message.to.lower() == to.lower() and (match := _LINK_TOKEN.search(message.text)):
                return unquote(match.group(1))
        raise AssertionError(f"regstack emailed no link token to {to}")

    def texted_code(self, to: str, since: int) -> str:
        """Return the code in the newest SMS to ``to`` among ``outbox[since:]``."""
        code = re.compile(rf"\b\d{{{self.rs.config.sms_code_length}}}\b")
        for message in reversed(self.sms_outbox[since:]):
            if message.to == to and (match := code.search(message.body)):
                return match.group(0)
        raise AssertionError(f"regstack texted no code to {to}")

    async def login(self, label: str, email: str, password: str) -> dict[str, Any]:
        """Log in and return the JSON body (a session token, or an MFA challenge)."""
        response = await self.request(
            label, "POST", "/login", expect=200, json={"email": email, "password": password}
        )
        body: dict[str, Any] = response.json()
        return body

    async def session(self, email: str, password: str) -> str:
        """Log in a user without MFA and return their bearer token."""
        return str((await self.login(f"login {email}", email, password))["access_token"])

    async def callback(self, label: str, authorization_url: str, user_info: OAuthUserInfo) -> str:
        """Approve at the stand-in, follow its redirect to regstack's callback; return the state id.

        regstack answers a failed callback with a redirect too (to the login
        page with ``?error=``), so the status alone proves nothing: the
        redirect must point at the completion page.
        """
        callback = urlsplit(self.provider.approve(authorization_url, user_info))
        if not callback.path.startswith(f"{self.prefix}/"):
            raise AssertionError(f"OAuth callback {callback.path} is outside {self.prefix}")
        response = await self.request(
            label,
            "GET",
            callback.path.removeprefix(self.prefix),
            expect=302,
            params={key: values[0] for key, values in parse_qs(callback.query).items()},
        )
        location = urlsplit(response.headers["location"])
        completion = f"{self.rs.config.ui_prefix.rstrip('/')}/oauth-complete"
        state_ids = parse_qs(location.query).get("id")
        if location.path != completion or not state_ids:
            raise AssertionError(
                f"OAuth callback redirected to {location.geturl()}, not {completion}"
            )
        return state_ids[0]
