"""``@receiver`` functions: the usual Django way to react to regstack's events.

The three events :mod:`.hooks` records are left out, so every event makes exactly one row.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal, receiver

from regstack_django import signals
from testproject.audit.records import record

logger = logging.getLogger(__name__)

#: Recorded by a ``@receiver`` here; the rest are in settings.REGSTACK_HOOKS.
RECEIVER_EVENTS = (
    "verification_requested",
    "user_verified",
    "user_registered",
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
)


@receiver(
    [signals.signal_for(name) for name in RECEIVER_EVENTS],
    dispatch_uid="testproject.audit.record_event",
)
def record_event(sender: object, signal: Signal, **kwargs: Any) -> None:
    """Save an ``AuditEvent`` for any of :data:`RECEIVER_EVENTS`."""
    record(signals.event_name(signal), sender, kwargs)


@receiver(signals.user_deleted, dispatch_uid="testproject.audit.log_deletion")
async def log_deletion(sender: object, user: Any, **kwargs: Any) -> None:
    """An async receiver: runs on regstack's event loop, next to the sync ones."""
    logger.info("regstack deleted the account of user id %s", user.id)
