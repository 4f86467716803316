"""The names and arguments of regstack's events, known without importing regstack.

regstack is an optional dependency; ``tests/dispatch/test_events.py`` checks these against it.
"""

from __future__ import annotations

from typing import Final

KNOWN_EVENTS: Final[frozenset[str]] = frozenset(
    {
        "verification_requested",
        "user_verified",
        "user_registered",
        "user_logged_in",
        "user_logged_out",
        "password_changed",
        "password_reset_requested",
        "password_reset_completed",
        "email_change_requested",
        "email_changed",
        "phone_setup_started",
        "mfa_enabled",
        "mfa_login_started",
        "phone_setup_disabled",
        "mfa_disabled",
        "oauth_signin_started",
        "oauth_signin_completed",
        "oauth_account_linked",
        "oauth_account_unlinked",
        "user_deleted",
    }
)

#: Events the bridge itself sends, not regstack: connectable like regstack's own
#: (``@receiver``, ``REGSTACK_HOOKS`` inline, background or durable).
BRIDGE_EVENTS: Final[frozenset[str]] = frozenset({"login_failed"})

#: Every event ``REGSTACK_HOOKS`` and ``regstack_hooks`` know without a warning.
HOOKABLE_EVENTS: Final[frozenset[str]] = KNOWN_EVENTS | BRIDGE_EVENTS

#: The reasons ``login_failed`` carries (docs/observability.md, "Failed sign-ins").
LOGIN_FAILED_REASONS: Final[tuple[str, ...]] = (
    "invalid_credentials",
    "locked_out",
    "not_verified",
    "inactive",
)

#: Keyword arguments that carry a live single-use credential. Their values
#: never reach a log record, and background payloads drop them unless a
#: handler opts in with ``include_secrets``.
SECRET_KWARGS: Final[frozenset[str]] = frozenset({"url"})

#: The keyword arguments regstack passes with each event, as observed over
#: HTTP (``docs``: the event table). ``required`` are always present;
#: ``optional`` only in some flows (``user`` on ``oauth_signin_started`` is
#: there in link mode only). ``regstack_django.payloads`` types the same.
EVENT_ARGUMENTS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "verification_requested": (("email", "url", "url_without_token"), ()),
    "user_verified": (("user",), ()),
    "user_registered": (("user",), ()),
    "user_logged_in": (("user",), ()),
    "user_logged_out": (("user",), ()),
    "password_changed": (("user",), ()),
    "password_reset_requested": (("user", "url", "url_without_token"), ()),
    "password_reset_completed": (("user",), ()),
    "email_change_requested": (("user", "new_email", "url", "url_without_token"), ()),
    "email_changed": (("user", "previous_email"), ()),
    "phone_setup_started": (("user", "phone"), ()),
    "mfa_enabled": (("user",), ()),
    "mfa_login_started": (("user",), ()),
    "phone_setup_disabled": (("user",), ()),
    "mfa_disabled": (("user",), ()),
    "oauth_signin_started": (("provider", "mode"), ("user",)),
    "oauth_signin_completed": (("user", "provider", "mode", "was_new", "mfa_required"), ()),
    "oauth_account_linked": (("user", "provider"), ()),
    "oauth_account_unlinked": (("user", "provider"), ()),
    "user_deleted": (("user",), ()),
}

#: The same for :data:`BRIDGE_EVENTS`. ``context`` is not listed: every event's
#: receivers get it, and a background message carries it beside the payload.
BRIDGE_EVENT_ARGUMENTS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "login_failed": (("email", "reason"), ()),
}

#: The arguments of every hookable event (what a background payload is checked against).
ALL_EVENT_ARGUMENTS: Final = {**EVENT_ARGUMENTS, **BRIDGE_EVENT_ARGUMENTS}
