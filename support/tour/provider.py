"""An OAuth provider that lives in the process, so regstack's OAuth routes need no network."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from regstack import RegStack
from regstack.oauth import OAuthProvider, OAuthTokens, OAuthUserInfo
from regstack.oauth.errors import OAuthIdTokenError, OAuthTokenExchangeError

STANDIN_PROVIDER = "standin"
"""Name of the in-process OAuth provider, as it appears in ``/oauth/{provider}/...``."""

_STANDIN_AUTHORIZE_URL = "https://standin.invalid/authorize"


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
