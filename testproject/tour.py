"""Drive a real regstack app over HTTP so that every regstack event fires.

The Django testproject's demo and the end-to-end tests both need regstack to
fire all 20 events in ``regstack.hooks.events.KNOWN_EVENTS``, through the same
JSON routes a browser or SPA would call, so that whatever listens to
``rs.hooks`` (regstack_django's bridge to Django signals, or a plain recording
handler) sees exactly what a production host would see. This module is that
tour. It imports only regstack (with its FastAPI dependency) and httpx, never
Django, so it can also be run against bare regstack.

What the tour does, and which event each step fires (routes are under
``config.api_prefix``):

=============================================  =====================================
step                                           event(s)
=============================================  =====================================
``POST /register`` (verification on)           ``verification_requested``
``POST /verify`` (token read from the outbox)  ``user_verified``
``POST /login``                                ``user_logged_in``
``POST /change-password``                      ``password_changed``
``POST /forgot-password``                      ``password_reset_requested``
``POST /reset-password``                       ``password_reset_completed``
``POST /login``                                ``user_logged_in``
``POST /change-email``                         ``email_change_requested``
``POST /confirm-email-change``                 ``email_changed``
``POST /login`` (new address)                  ``user_logged_in``
``POST /phone/start``                          ``phone_setup_started``
``POST /phone/confirm`` (code from SMS outbox) ``mfa_enabled``
``POST /login`` (MFA now on)                   ``mfa_login_started``
``POST /login/mfa-confirm``                    ``user_logged_in``
``DELETE /phone``                              ``phone_setup_disabled``, ``mfa_disabled``
``GET /oauth/standin/start``                   ``oauth_signin_started`` (mode "signin")
``GET /oauth/standin/callback`` (new account)  ``user_registered``,
                                               ``oauth_signin_completed``
``POST /oauth/exchange``, ``GET /me``          (none)
``POST /oauth/standin/link/start``             ``oauth_signin_started`` (mode "link")
``GET /oauth/standin/callback`` (link)         ``oauth_signin_completed``,
                                               ``oauth_account_linked``
``DELETE /oauth/standin/link``                 ``oauth_account_unlinked``
``POST /login`` (admin)                        ``user_logged_in``
``DELETE /admin/users/{oauth user id}``        ``user_deleted``
``POST /logout`` (admin)                       ``user_logged_out``
``DELETE /account`` (main user)                ``user_deleted``
=============================================  =====================================

Where the secrets come from, without any network:

- Email tokens: regstack's ``ConsoleEmailService`` keeps every message in
  ``rs.email.outbox``; the tour reads the ``token=`` link from the newest one.
- SMS codes: regstack's ``NullSmsService`` likewise keeps every message in
  ``rs.sms.outbox``; the tour reads the code from the newest one. No
  recording subclass is needed.
- OAuth: :class:`StandInProvider` answers the authorization, token exchange
  and ID-token checks in-process, while regstack's own routes do the state,
  PKCE and identity bookkeeping.
- The admin: no HTTP route can create the first superuser, so the tour calls
  ``RegStack.bootstrap_admin``, the idempotent helper behind regstack's own
  ``regstack admin`` CLI command, and then logs the admin in over HTTP.

Because the tour reads the outboxes and creates the admin through ``rs``, it
must run in the process, and on the event loop, that serves the app (for
example over ``httpx.ASGITransport``). It leaves no users behind except the
admin, and every address it uses derives from ``email``, so it can be run
again on the same database.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from fastapi import FastAPI
from regstack import RegStack, RegStackConfig
from regstack.email.console import ConsoleEmailService
from regstack.oauth import OAuthProvider, OAuthTokens, OAuthUserInfo
from regstack.oauth.errors import OAuthIdTokenError, OAuthTokenExchangeError
from regstack.sms.null import NullSmsService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import httpx
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

__all__ = [
    "ADMIN_PASSWORD",
    "DEFAULT_BASE_URL",
    "DEV_JWT_SECRET",
    "STANDIN_PROVIDER",
    "StandInProvider",
    "TourResult",
    "TourStep",
    "build_fastapi_app",
    "build_tour_config",
    "build_tour_regstack",
    "register_standin_provider",
    "run_tour",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
"""Where the tour's email links and OAuth callback URLs point (``runserver``'s default)."""

DEV_JWT_SECRET = "regstack-django-tour-dev-jwt-secret-not-for-production"
"""Development-only signing secret; regstack refuses secrets under 32 characters."""

STANDIN_PROVIDER = "standin"
"""Name of the in-process OAuth provider, as it appears in ``/oauth/{provider}/...``."""

ADMIN_PASSWORD = "tour-admin-password"
"""Password of the tour's admin, so a demo user can sign in as that admin too."""

_FIRST_PASSWORD = "tour-password-1"
_CHANGED_PASSWORD = "tour-password-2"
_RESET_PASSWORD = "tour-password-3"
_PHONE = "+15555550123"
_STANDIN_AUTHORIZE_URL = "https://standin.invalid/authorize"
# The token in a verification / reset / email-change link (urlsafe base64 or a JWT).
_LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9._~%-]+)")


class _KwargsOnlyConfig(RegStackConfig):
    """A ``RegStackConfig`` whose only settings source is its keyword arguments.

    ``RegStackConfig.load`` reads ``./regstack.toml`` and
    ``./regstack.secrets.env`` from the working directory, and even the plain
    constructor (a pydantic-settings ``BaseSettings``) reads ``REGSTACK_*``
    environment variables. The tour must behave the same wherever it runs, so
    this subclass drops every source but the explicit arguments.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def build_tour_config(database_url: str, **overrides: Any) -> RegStackConfig:
    """Return a config with every feature the tour exercises turned on.

    Built from defaults plus ``overrides`` only: no TOML file, secrets file or
    environment variable is consulted, so the result is deterministic.

    Args:
        database_url: An SQLAlchemy URL, e.g.
            ``"sqlite+aiosqlite:////tmp/tour.db?timeout=30"`` (the timeout
            avoids "database is locked" under concurrent requests).
        **overrides: Any ``RegStackConfig`` field, applied last (for example
            ``jwt_secret`` or ``base_url``).
    """
    settings: dict[str, Any] = {
        "database_url": database_url,
        "base_url": DEFAULT_BASE_URL,
        "api_prefix": "/api/auth",
        "jwt_secret": DEV_JWT_SECRET,
        "email": {"backend": "console"},
        "sms": {"backend": "null"},
        "require_verification": True,
        "allow_registration": True,
        "enable_password_reset": True,
        "enable_account_deletion": True,
        "enable_sms_2fa": True,
        "enable_oauth": True,
        "enable_admin_router": True,
        # The tour never fails a login, but a re-run after an aborted tour (or
        # a demo user mistyping) must not find its accounts locked out.
        "rate_limit_disabled": True,
    }
    settings.update(overrides)
    return _KwargsOnlyConfig(**settings)


@dataclass(frozen=True, slots=True)
class _Grant:
    """An authorization code the stand-in issued, and what redeeming it must match."""

    user_info: OAuthUserInfo
    redirect_uri: str
    code_challenge: str
    nonce: str


class StandInProvider(OAuthProvider):
    """An OAuth provider that lives in the process, so the OAuth routes need no network.

    regstack's ``/oauth/{provider}/...`` routes create the state row, PKCE pair
    and nonce, and ask the provider for an authorization URL. A real browser
    would then sign in at the provider and be redirected to the callback with
    a code. :meth:`approve` plays that part: it issues a single-use code bound
    to the identity, redirect URI, PKCE challenge and nonce, and returns the
    callback URL. When regstack's callback route redeems the code,
    :meth:`exchange_code` and :meth:`verify_id_token` check those bindings the
    way a real provider and ID-token verifier would, so a broken flow fails
    here instead of passing silently.
    """

    def __init__(self) -> None:
        self._grants: dict[str, _Grant] = {}
        self._id_tokens: dict[str, tuple[OAuthUserInfo, str]] = {}

    @property
    def name(self) -> str:
        return STANDIN_PROVIDER

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        code_challenge: str,
        nonce: str,
    ) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
                "nonce": nonce,
            }
        )
        return f"{_STANDIN_AUTHORIZE_URL}?{query}"

    def approve(self, authorization_url: str, user_info: OAuthUserInfo) -> str:
        """Sign ``user_info`` in at the provider and return the callback URL to follow.

        Args:
            authorization_url: A URL from :meth:`authorization_url`, as
                regstack redirected (or returned) it.
            user_info: The identity the provider vouches for.

        Returns:
            The absolute callback URL carrying ``code`` and ``state``.
        """
        if not authorization_url.startswith(f"{_STANDIN_AUTHORIZE_URL}?"):
            raise ValueError(f"not a {STANDIN_PROVIDER} authorization URL: {authorization_url}")
        params = {
            key: values[0] for key, values in parse_qs(urlsplit(authorization_url).query).items()
        }
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            user_info=user_info,
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params["nonce"],
        )
        return f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}"

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> OAuthTokens:
        grant = self._grants.pop(code, None)
        if grant is None:
            raise OAuthTokenExchangeError(f"{STANDIN_PROVIDER}: unknown or already used code")
        if redirect_uri != grant.redirect_uri:
            raise OAuthTokenExchangeError(f"{STANDIN_PROVIDER}: redirect_uri mismatch")
        digest = hashlib.sha256(code_verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.code_challenge:
            raise OAuthTokenExchangeError(f"{STANDIN_PROVIDER}: PKCE verifier mismatch")
        id_token = secrets.token_urlsafe(24)
        self._id_tokens[id_token] = (grant.user_info, grant.nonce)
        return OAuthTokens(access_token=secrets.token_urlsafe(24), id_token=id_token)

    async def verify_id_token(self, id_token: str, *, expected_nonce: str) -> OAuthUserInfo:
        issued = self._id_tokens.pop(id_token, None)
        if issued is None:
            raise OAuthIdTokenError(f"{STANDIN_PROVIDER}: unknown ID token")
        user_info, nonce = issued
        if nonce != expected_nonce:
            raise OAuthIdTokenError(f"{STANDIN_PROVIDER}: nonce mismatch")
        return user_info


def register_standin_provider(rs: RegStack) -> None:
    """Register a :class:`StandInProvider` on ``rs.oauth`` unless one is there already.

    Call it before anything reads ``rs.router``: regstack builds its router
    once, and mounts the ``/oauth`` routes only if ``enable_oauth`` is on and
    a provider is registered at that moment.
    """
    if STANDIN_PROVIDER not in rs.oauth:
        rs.oauth.register(StandInProvider())


def build_tour_regstack(config: RegStackConfig) -> RegStack:
    """Return a ``RegStack`` that :func:`run_tour` can drive: regstack plus the stand-in provider.

    The console email and null SMS backends named in ``config`` (see
    :func:`build_tour_config`) already keep outboxes, so nothing else needs
    wiring.
    """
    rs = RegStack(config=config)
    register_standin_provider(rs)
    return rs


def build_fastapi_app(rs: RegStack) -> FastAPI:
    """Return a FastAPI app serving regstack's JSON routes at ``rs.config.api_prefix``.

    Its lifespan installs regstack's schema and closes the backend. ASGI
    servers run it; ``httpx.ASGITransport`` does not, so tests enter
    ``app.router.lifespan_context(app)`` themselves.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await rs.install_schema()
        try:
            yield
        finally:
            await rs.aclose()

    prefix = rs.config.api_prefix
    # Docs live under the prefix too, so a composed app sends them to FastAPI.
    app = FastAPI(
        title="regstack tour",
        lifespan=lifespan,
        docs_url=f"{prefix}/docs",
        openapi_url=f"{prefix}/openapi.json",
        redoc_url=None,
    )
    app.include_router(rs.router, prefix=rs.config.api_prefix)
    return app


#: How often each of the 20 events fires during one :func:`run_tour`.
EXPECTED_COUNTS: dict[str, int] = {
    "verification_requested": 1,
    "user_verified": 1,
    "user_registered": 1,  # the OAuth sign-in that creates an account
    # first login, after the reset, after the email change, MFA confirm, admin
    "user_logged_in": 5,
    "user_logged_out": 1,  # the admin
    "password_changed": 1,
    "password_reset_requested": 1,
    "password_reset_completed": 1,
    "email_change_requested": 1,
    "email_changed": 1,
    "phone_setup_started": 1,
    "mfa_enabled": 1,
    "mfa_login_started": 1,
    "phone_setup_disabled": 1,
    "mfa_disabled": 1,
    "oauth_signin_started": 2,  # signin, link
    "oauth_signin_completed": 2,  # signin, link
    "oauth_account_linked": 1,
    "oauth_account_unlinked": 1,
    "user_deleted": 2,  # the admin deletes the OAuth user; the main user deletes themself
}


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


def _derived_address(email: str, tag: str) -> str:
    """Return ``local+tag@domain``, so every account of a tour derives from its ``email``."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        raise ValueError(f"not an email address: {email!r}")
    return f"{local}+{tag}@{domain}"


class _Tour:
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

    async def sign_up(self, email: str) -> str:
        """Register with verification on, verify from the emailed link; return the user id."""
        since = len(self.mail_outbox)
        await self.request(
            f"register {email}",
            "POST",
            "/register",
            expect=201,
            json={"email": email, "password": _FIRST_PASSWORD},
        )
        verify_token = self.mailed_token(email, since)
        response = await self.request(
            f"verify {email}", "POST", "/verify", expect=200, json={"token": verify_token}
        )
        return str(response.json()["id"])

    async def rotate_password(self, email: str) -> str:
        """Change the password, then reset it by email; return a session under the new one."""
        token = await self.session(email, _FIRST_PASSWORD)
        await self.request(
            "change password",
            "POST",
            "/change-password",
            expect=200,
            token=token,
            json={"current_password": _FIRST_PASSWORD, "new_password": _CHANGED_PASSWORD},
        )
        since = len(self.mail_outbox)
        await self.request(
            f"forgot password {email}",
            "POST",
            "/forgot-password",
            expect=202,
            json={"email": email},
        )
        await self.request(
            "reset password",
            "POST",
            "/reset-password",
            expect=200,
            json={"token": self.mailed_token(email, since), "new_password": _RESET_PASSWORD},
        )
        # Both password changes revoked every earlier session.
        return await self.session(email, _RESET_PASSWORD)

    async def change_email(self, token: str, old: str, new: str) -> str:
        """Move the account to ``new`` via the emailed link; return a fresh session."""
        since = len(self.mail_outbox)
        await self.request(
            f"change email {old} to {new}",
            "POST",
            "/change-email",
            expect=202,
            token=token,
            json={"new_email": new, "current_password": _RESET_PASSWORD},
        )
        await self.request(
            f"confirm email change to {new}",
            "POST",
            "/confirm-email-change",
            expect=200,
            json={"token": self.mailed_token(new, since)},
        )
        # regstack revokes every session when the address changes.
        return await self.session(new, _RESET_PASSWORD)

    async def sms_mfa(self, token: str, email: str) -> str:
        """Enable SMS 2FA, log in through it, disable it; return the MFA-confirmed session."""
        since = len(self.sms_outbox)
        response = await self.request(
            f"phone start {_PHONE}",
            "POST",
            "/phone/start",
            expect=202,
            token=token,
            json={"phone_number": _PHONE, "current_password": _RESET_PASSWORD},
        )
        await self.request(
            "phone confirm",
            "POST",
            "/phone/confirm",
            expect=200,
            json={
                "pending_token": response.json()["pending_token"],
                "code": self.texted_code(_PHONE, since),
            },
        )
        since = len(self.sms_outbox)
        challenge = await self.login(f"login {email} (MFA on)", email, _RESET_PASSWORD)
        response = await self.request(
            "MFA confirm",
            "POST",
            "/login/mfa-confirm",
            expect=200,
            json={
                "mfa_pending_token": challenge["mfa_pending_token"],
                "code": self.texted_code(_PHONE, since),
            },
        )
        token = str(response.json()["access_token"])
        await self.request(
            "phone disable",
            "DELETE",
            "/phone",
            expect=200,
            token=token,
            json={"current_password": _RESET_PASSWORD},
        )
        return token

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

    async def oauth(self, token: str, email: str, oauth_email: str) -> str:
        """Sign up through the stand-in, then link and unlink it; return the new user's id."""
        response = await self.request(
            f"OAuth start {STANDIN_PROVIDER} (signin)",
            "GET",
            f"/oauth/{STANDIN_PROVIDER}/start",
            expect=302,
        )
        state_id = await self.callback(
            f"OAuth callback {STANDIN_PROVIDER} (signin, new account {oauth_email})",
            response.headers["location"],
            OAuthUserInfo(
                subject_id=f"signin:{email}",
                email=oauth_email,
                email_verified=True,
                full_name="Tour OAuth user",
                picture_url=None,
            ),
        )
        response = await self.request(
            "OAuth exchange", "POST", "/oauth/exchange", expect=200, json={"id": state_id}
        )
        response = await self.request(
            f"me {oauth_email}",
            "GET",
            "/me",
            expect=200,
            token=str(response.json()["access_token"]),
        )
        oauth_user_id = str(response.json()["id"])

        response = await self.request(
            f"OAuth link start {STANDIN_PROVIDER}",
            "POST",
            f"/oauth/{STANDIN_PROVIDER}/link/start",
            expect=200,
            token=token,
        )
        await self.callback(
            f"OAuth callback {STANDIN_PROVIDER} (link)",
            str(response.json()["authorization_url"]),
            OAuthUserInfo(
                subject_id=f"link:{email}",
                email=email,
                email_verified=True,
                full_name=None,
                picture_url=None,
            ),
        )
        await self.request(
            f"OAuth unlink {STANDIN_PROVIDER}",
            "DELETE",
            f"/oauth/{STANDIN_PROVIDER}/link",
            expect=200,
            token=token,
        )
        return oauth_user_id

    async def admin_deletes(self, admin_email: str, user_id: str, user_email: str) -> str:
        """Bootstrap an admin, have them delete ``user_id`` and log out; return the admin's id."""
        admin = await self.rs.bootstrap_admin(admin_email, ADMIN_PASSWORD)
        self.say(f"admin {admin_email} ready (RegStack.bootstrap_admin, no HTTP)")
        token = await self.session(admin_email, ADMIN_PASSWORD)
        await self.request(
            f"admin deletes {user_email}",
            "DELETE",
            f"/admin/users/{user_id}",
            expect=200,
            token=token,
        )
        await self.request(f"logout {admin_email}", "POST", "/logout", expect=200, token=token)
        return str(admin.id)


async def run_tour(
    client: httpx.AsyncClient,
    rs: RegStack,
    *,
    email: str = "alice@example.com",
    say: Callable[[str], None] = print,
) -> TourResult:
    """Drive ``rs`` through its JSON routes so that each of its 20 events fires at least once.

    Args:
        client: Reaches the app root (its ``base_url``); the routes live under
            ``rs.config.api_prefix``. Redirects are never followed.
        rs: The ``RegStack`` serving the app, built as by
            :func:`build_tour_regstack` (console email, null SMS, stand-in
            provider registered), on this event loop.
        email: The main user's address. Every other address and OAuth subject
            derives from it. The tour deletes the accounts it creates (all but
            the admin), so it can run again on the same database, with this
            address or another.
        say: Receives one short line per step, e.g.
            ``"register alice@example.com -> 201"``. Lines never contain tokens.

    Raises:
        AssertionError: A route answered an unexpected status (the message
            names method, path, status and body), or an expected email, SMS or
            OAuth redirect did not appear.
    """
    tour = _Tour(client, rs, say)
    changed_email = _derived_address(email, "changed")
    oauth_email = _derived_address(email, "oauth")
    admin_email = _derived_address(email, "admin")

    main_user_id = await tour.sign_up(email)
    token = await tour.rotate_password(email)
    token = await tour.change_email(token, email, changed_email)
    token = await tour.sms_mfa(token, changed_email)
    oauth_user_id = await tour.oauth(token, email, oauth_email)
    admin_user_id = await tour.admin_deletes(admin_email, oauth_user_id, oauth_email)
    await tour.request(
        f"delete account {changed_email}",
        "DELETE",
        "/account",
        expect=200,
        token=token,
        json={"current_password": _RESET_PASSWORD},
    )
    return TourResult(
        email=email,
        changed_email=changed_email,
        oauth_email=oauth_email,
        admin_email=admin_email,
        main_user_id=main_user_id,
        oauth_user_id=oauth_user_id,
        admin_user_id=admin_user_id,
        steps=tour.steps,
    )
