"""Typed keyword arguments of each event, for ``**kwargs: Unpack[...]`` (docs/events.md).

``oauth_signin_started``'s optional ``user`` is a ``total=False`` subclass, not ``NotRequired``:
Python 3.11-3.13 cannot see ``NotRequired`` at run time under postponed annotations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

from django.dispatch import Signal

if TYPE_CHECKING:
    from regstack.models.user import BaseUser

__all__ = [
    "EVENT_KWARGS",
    "EmailChangeRequestedKwargs",
    "EmailChangedKwargs",
    "MfaDisabledKwargs",
    "MfaEnabledKwargs",
    "MfaLoginStartedKwargs",
    "OauthAccountLinkedKwargs",
    "OauthAccountUnlinkedKwargs",
    "OauthSigninCompletedKwargs",
    "OauthSigninStartedKwargs",
    "PasswordChangedKwargs",
    "PasswordResetCompletedKwargs",
    "PasswordResetRequestedKwargs",
    "PhoneSetupDisabledKwargs",
    "PhoneSetupStartedKwargs",
    "UserDeletedKwargs",
    "UserLoggedInKwargs",
    "UserLoggedOutKwargs",
    "UserRegisteredKwargs",
    "UserVerifiedKwargs",
    "VerificationRequestedKwargs",
]

OAuthMode = Literal["signin", "link"]


class _WithSignal(TypedDict):
    #: The Signal being sent; Django passes it to every receiver.
    signal: Signal


class _WithUser(_WithSignal):
    user: BaseUser


class VerificationRequestedKwargs(_WithSignal):
    """``verification_requested``: no user row exists yet. ``url`` is a live token."""

    email: str
    url: str
    url_without_token: str


class UserVerifiedKwargs(_WithUser):
    """``user_verified``: the user whose address was verified."""


class UserRegisteredKwargs(_WithUser):
    """``user_registered``: the new account (no verification, or a new OAuth sign-in)."""


class UserLoggedInKwargs(_WithUser):
    """``user_logged_in``: after a password login (not OAuth sign-in)."""


class UserLoggedOutKwargs(_WithUser):
    """``user_logged_out``."""


class PasswordChangedKwargs(_WithUser):
    """``password_changed``."""


class PasswordResetRequestedKwargs(_WithUser):
    """``password_reset_requested``: ``url`` is a live token."""

    url: str
    url_without_token: str


class PasswordResetCompletedKwargs(_WithUser):
    """``password_reset_completed``."""


class EmailChangeRequestedKwargs(_WithUser):
    """``email_change_requested``: ``user`` still has the old address; ``url`` is live."""

    new_email: str
    url: str
    url_without_token: str


class EmailChangedKwargs(_WithUser):
    """``email_changed``: ``user`` has the new address."""

    previous_email: str


class PhoneSetupStartedKwargs(_WithUser):
    """``phone_setup_started``."""

    phone: str


class MfaEnabledKwargs(_WithUser):
    """``mfa_enabled``."""


class MfaLoginStartedKwargs(_WithUser):
    """``mfa_login_started``: a password login that now waits for the SMS code."""


class PhoneSetupDisabledKwargs(_WithUser):
    """``phone_setup_disabled``."""


class MfaDisabledKwargs(_WithUser):
    """``mfa_disabled``."""


class _OauthSigninStartedRequired(_WithSignal):
    provider: str
    mode: OAuthMode


class OauthSigninStartedKwargs(_OauthSigninStartedRequired, total=False):
    """``oauth_signin_started``: ``user`` is there in ``"link"`` mode only."""

    user: BaseUser


class OauthSigninCompletedKwargs(_WithUser):
    """``oauth_signin_completed``."""

    provider: str
    mode: OAuthMode
    was_new: bool
    mfa_required: bool


class OauthAccountLinkedKwargs(_WithUser):
    """``oauth_account_linked``: after ``oauth_signin_completed`` in link mode."""

    provider: str


class OauthAccountUnlinkedKwargs(_WithUser):
    """``oauth_account_unlinked``."""

    provider: str


class UserDeletedKwargs(_WithUser):
    """``user_deleted``."""


#: Event name -> the ``TypedDict`` of its receivers' keyword arguments.
EVENT_KWARGS: dict[str, type] = {
    "verification_requested": VerificationRequestedKwargs,
    "user_verified": UserVerifiedKwargs,
    "user_registered": UserRegisteredKwargs,
    "user_logged_in": UserLoggedInKwargs,
    "user_logged_out": UserLoggedOutKwargs,
    "password_changed": PasswordChangedKwargs,
    "password_reset_requested": PasswordResetRequestedKwargs,
    "password_reset_completed": PasswordResetCompletedKwargs,
    "email_change_requested": EmailChangeRequestedKwargs,
    "email_changed": EmailChangedKwargs,
    "phone_setup_started": PhoneSetupStartedKwargs,
    "mfa_enabled": MfaEnabledKwargs,
    "mfa_login_started": MfaLoginStartedKwargs,
    "phone_setup_disabled": PhoneSetupDisabledKwargs,
    "mfa_disabled": MfaDisabledKwargs,
    "oauth_signin_started": OauthSigninStartedKwargs,
    "oauth_signin_completed": OauthSigninCompletedKwargs,
    "oauth_account_linked": OauthAccountLinkedKwargs,
    "oauth_account_unlinked": OauthAccountUnlinkedKwargs,
    "user_deleted": UserDeletedKwargs,
}
