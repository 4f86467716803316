"""Drive a regstack app through its JSON routes so that each of its 20 events fires.

Tokens and codes come from regstack's console e-mail and null SMS outboxes, so the tour runs in the
process and on the event loop that serve the app; it deletes every account it creates but the admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from regstack.oauth import OAuthUserInfo

from support.tour.client import TourClient, TourResult
from support.tour.provider import STANDIN_PROVIDER

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from regstack import RegStack

ADMIN_PASSWORD = "tour-admin-password"
"""Password of the tour's admin, so a demo user can sign in as that admin too."""

_FIRST_PASSWORD = "tour-password-1"
_CHANGED_PASSWORD = "tour-password-2"
_RESET_PASSWORD = "tour-password-3"
_PHONE = "+15555550123"

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


def _derived_address(email: str, tag: str) -> str:
    """Return ``local+tag@domain``, so every account of a tour derives from its ``email``."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        raise ValueError(f"not an email address: {email!r}")
    return f"{local}+{tag}@{domain}"


class _Tour(TourClient):
    """The tour's flows, each a few requests that fire a few events."""

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

    ``client`` reaches the app root and never follows redirects; ``rs`` is built as by
    :func:`support.tour.app.build_tour_regstack`, on this event loop. Every other address derives
    from ``email``, so the tour can run again on the same database. ``say`` gets one line per
    step, never a token. Raise ``AssertionError`` when a route answers an unexpected status or an
    expected e-mail, SMS or OAuth redirect does not appear.
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
