"""The bridge's own receivers: link users when usable, follow changes, drop revoked tokens.

Connected only while the middleware, the backend or the DRF class is configured.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from regstack_django import signals
from regstack_django.auth import cache, linking

MIDDLEWARE_PATH = "regstack_django.auth.RegStackTokenMiddleware"
BACKEND_PATH = "regstack_django.auth.RegStackBackend"
DRF_PATH = "regstack_django.auth.drf.RegStackAuthentication"

#: Settings whose change may connect or disconnect these receivers.
WATCHED_SETTINGS = frozenset({"MIDDLEWARE", "AUTHENTICATION_BACKENDS", "REST_FRAMEWORK"})


def in_use() -> bool:
    """Whether settings name the middleware, the backend or the DRF class."""
    drf = getattr(settings, "REST_FRAMEWORK", None) or {}
    return (
        MIDDLEWARE_PATH in (getattr(settings, "MIDDLEWARE", None) or ())
        or BACKEND_PATH in settings.AUTHENTICATION_BACKENDS
        or DRF_PATH in (drf.get("DEFAULT_AUTHENTICATION_CLASSES") or ())
    )


def link(sender: object, user: Any = None, **kwargs: Any) -> None:
    """A regstack user became usable: give it its Django user."""
    if user is not None and user.is_active:
        linking.user_for(user)


def revoke(sender: object, user: Any = None, **kwargs: Any) -> None:
    """Tokens of ``user`` may be revoked: forget what the cache holds for them."""
    from regstack_django.hosting.instance import get_regstack

    if user is not None:
        cache.revoke_user(cache.scope(get_regstack()), str(user.id))


def email_changed(sender: object, user: Any = None, **kwargs: Any) -> None:
    """Copy the new address, and forget the user's tokens (regstack revoked them)."""
    revoke(sender, user)
    if user is not None:
        linking.email_changed(user)


def user_deleted(sender: object, user: Any = None, **kwargs: Any) -> None:
    """Forget the user's tokens, then deactivate or delete the Django user."""
    revoke(sender, user)
    if user is not None:
        linking.user_deleted(str(user.id))


_RECEIVERS = (
    (signals.user_verified, link),
    (signals.user_registered, link),
    (signals.oauth_signin_completed, link),
    (signals.user_logged_out, revoke),
    (signals.password_changed, revoke),
    (signals.password_reset_completed, revoke),
    (signals.email_changed, email_changed),
    (signals.user_deleted, user_deleted),
)


def connect() -> None:
    """Connect the receivers when the settings use them, disconnect them otherwise; idempotent."""
    wanted = in_use()
    for signal, receiver in _RECEIVERS:
        uid = f"regstack_django.auth.{receiver.__name__}"
        if wanted:
            signal.connect(receiver, weak=False, dispatch_uid=uid)
        else:
            signal.disconnect(dispatch_uid=uid)
