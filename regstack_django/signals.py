"""One Django ``Signal`` per regstack event, declared explicitly so each is greppable and typed.

Connect to them like any Django signal and accept ``**kwargs`` (docs/events.md).
"""

from __future__ import annotations

import threading

from django.dispatch import Signal

# Sent when a registration needs e-mail verification (POST /register with
# verification on, /resend-verification, admin resend). No user row exists yet.
# Arguments: email, url (live token), url_without_token
verification_requested = Signal()

# Sent when an e-mail address is verified (POST /verify, admin promote).
# Arguments: user
user_verified = Signal()

# Sent when an account is created without verification (POST /register with
# verification off, or an OAuth sign-in that creates the account).
# Arguments: user
user_registered = Signal()

# Sent after a successful password login (POST /login without MFA,
# POST /login/mfa-confirm). Not sent for OAuth sign-in.
# Arguments: user
user_logged_in = Signal()

# Sent on POST /logout.
# Arguments: user
user_logged_out = Signal()

# Sent on POST /change-password.
# Arguments: user
password_changed = Signal()

# Sent on POST /forgot-password for an existing active user.
# Arguments: user, url (live token), url_without_token
password_reset_requested = Signal()

# Sent on POST /reset-password.
# Arguments: user
password_reset_completed = Signal()

# Sent on POST /change-email; user still has the old address.
# Arguments: user, new_email, url (live token), url_without_token
email_change_requested = Signal()

# Sent on POST /confirm-email-change; user has the new address.
# Arguments: user, previous_email
email_changed = Signal()

# Sent on POST /phone/start.
# Arguments: user, phone
phone_setup_started = Signal()

# Sent on POST /phone/confirm.
# Arguments: user
mfa_enabled = Signal()

# Sent on POST /login when SMS second factor is on.
# Arguments: user
mfa_login_started = Signal()

# Sent first on DELETE /phone.
# Arguments: user
phone_setup_disabled = Signal()

# Sent second on DELETE /phone.
# Arguments: user
mfa_disabled = Signal()

# Sent on GET /oauth/{provider}/start (mode "signin") and
# POST /oauth/{provider}/link/start (mode "link", with user).
# Arguments: provider, mode, user (link mode only)
oauth_signin_started = Signal()

# Sent on GET /oauth/{provider}/callback.
# Arguments: user, provider, mode, was_new, mfa_required
oauth_signin_completed = Signal()

# Sent on a link-mode callback, after oauth_signin_completed.
# Arguments: user, provider
oauth_account_linked = Signal()

# Sent on DELETE /oauth/{provider}/link.
# Arguments: user, provider
oauth_account_unlinked = Signal()

# Sent on DELETE /account and admin DELETE /admin/users/{id}.
# Arguments: user
user_deleted = Signal()

# Sent by the bridge (not regstack) for each failed password sign-in through
# regstack's POST /login: wrong password or unknown address, a locked-out
# address, an unverified or a disabled account. Never carries the password.
# Arguments: email (normalised), reason ("invalid_credentials", "locked_out",
# "not_verified", "inactive"), context
login_failed = Signal()

# Sent once for each receiver that raised or timed out, after the event's
# receivers have all run. Never carries the event's arguments.
# Arguments: event (name), receiver (dotted name), exception
receiver_failed = Signal()

_KNOWN_SIGNALS: dict[str, Signal] = {
    "verification_requested": verification_requested,
    "user_verified": user_verified,
    "user_registered": user_registered,
    "user_logged_in": user_logged_in,
    "user_logged_out": user_logged_out,
    "password_changed": password_changed,
    "password_reset_requested": password_reset_requested,
    "password_reset_completed": password_reset_completed,
    "email_change_requested": email_change_requested,
    "email_changed": email_changed,
    "phone_setup_started": phone_setup_started,
    "mfa_enabled": mfa_enabled,
    "mfa_login_started": mfa_login_started,
    "phone_setup_disabled": phone_setup_disabled,
    "mfa_disabled": mfa_disabled,
    "oauth_signin_started": oauth_signin_started,
    "oauth_signin_completed": oauth_signin_completed,
    "oauth_account_linked": oauth_account_linked,
    "oauth_account_unlinked": oauth_account_unlinked,
    "user_deleted": user_deleted,
}

#: Events the bridge sends itself (``events.BRIDGE_EVENTS``).
_BRIDGE_SIGNALS: dict[str, Signal] = {"login_failed": login_failed}
_KNOWN_SIGNALS_AND_BRIDGE: dict[str, Signal] = {**_KNOWN_SIGNALS, **_BRIDGE_SIGNALS}

_custom_signals: dict[str, Signal] = {}
_custom_lock = threading.Lock()
_names: dict[Signal, str] = {signal: name for name, signal in _KNOWN_SIGNALS_AND_BRIDGE.items()}


def signal_for(event: str) -> Signal:
    """Return the Signal for ``event``, creating one for a custom name once.

    A custom name gets one Signal on first use and the same object ever after,
    also when two threads ask at once; only that first use takes the lock.
    """
    signal = _KNOWN_SIGNALS_AND_BRIDGE.get(event) or _custom_signals.get(event)
    if signal is not None:
        return signal
    if not isinstance(event, str) or not event:
        raise TypeError(f"An event name must be a non-empty str, not {event!r}.")
    with _custom_lock:
        signal = _custom_signals.get(event)
        if signal is None:
            signal = _custom_signals[event] = Signal()
            _names[signal] = event
        return signal


def event_name(signal: Signal) -> str:
    """Return the event ``signal`` stands for: the inverse of :func:`signal_for`.

    A receiver connected to several events uses it to tell which one fired.
    Raise ``LookupError`` for a Signal that is not a regstack event's.
    """
    try:
        return _names[signal]
    except KeyError:
        raise LookupError(f"{signal!r} is not the Signal of a regstack event.") from None


def custom_events() -> frozenset[str]:
    """Return the custom event names that have a Signal so far."""
    with _custom_lock:
        return frozenset(_custom_signals)


__all__ = [
    *sorted(_KNOWN_SIGNALS),
    "custom_events",
    "event_name",
    "login_failed",
    "receiver_failed",
    "signal_for",
]
