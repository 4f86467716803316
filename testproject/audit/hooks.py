"""Handlers named by dotted path in ``settings.REGSTACK_HOOKS``.

The settings route suits handlers a project wants to switch on, off or to the
background without touching code: ``regstack_django`` imports and checks them
at start-up (``manage.py check`` reports a bad path) and connects them.

:func:`send_welcome_email` is a *background* handler: each ``user_verified``
enqueues a task, and the Tasks worker (``manage.py db_worker``) runs it. It
then gets ``sender`` as a string (the dotted class name of the original
sender) and ``user`` as a dict of public fields, never ``hashed_password``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from testproject.audit.records import record

WELCOME_SUBJECT = "Welcome to the regstack demo"


def record_login(sender: object, **kwargs: Any) -> None:
    """``user_logged_in``: password and MFA logins (OAuth sign-in fires other events)."""
    record("user_logged_in", sender, kwargs)


def record_logout(sender: object, **kwargs: Any) -> None:
    """``user_logged_out``."""
    record("user_logged_out", sender, kwargs)


def record_password_change(sender: object, **kwargs: Any) -> None:
    """``password_changed`` (a reset by e-mail is ``password_reset_completed``)."""
    record("password_changed", sender, kwargs)


def send_welcome_email(sender: str, user: dict[str, Any], **kwargs: Any) -> None:
    """``user_verified``, in the Tasks worker: greet the new user by e-mail."""
    name = user.get("full_name") or user["email"]
    send_mail(
        WELCOME_SUBJECT,
        f"Hello {name},\n\nyour address {user['email']} is verified. Welcome aboard!\n",
        settings.DEFAULT_FROM_EMAIL,
        [user["email"]],
    )
