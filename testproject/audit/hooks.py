"""Handlers named by dotted path in ``settings.REGSTACK_HOOKS``, one of them in the background.

The ``record_delivery`` ones are the opt-in delivery probe of the worker tests.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.dispatch import Signal

from regstack_django.signals import event_name
from testproject.audit.models import BackgroundDelivery
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


def send_welcome_email(sender: str, user: Any, **kwargs: Any) -> None:
    """``user_verified``, in the Tasks worker: greet the new user by e-mail."""
    name = user.full_name or user.email
    send_mail(
        WELCOME_SUBJECT,
        f"Hello {name},\n\nyour address {user.email} is verified. Welcome aboard!\n",
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def _record_delivery(handler: str, signal: Signal, sender: object, kwargs: dict[str, Any]) -> None:
    """Write what this task run received; sleep first, so a stop can land mid-task.

    The pause (``settings.DELIVERY_PROBE_SECONDS``) comes *before* the write:
    a worker killed during it leaves no row, which is what the SIGKILL study in
    ``docs/background.md`` measures.
    """
    time.sleep(getattr(settings, "DELIVERY_PROBE_SECONDS", 0.0))
    user = kwargs.pop("user", None)
    event_id = kwargs.pop("event_id", None)
    fields = user.as_dict() if hasattr(user, "as_dict") else {}
    BackgroundDelivery.objects.create(
        event_id=event_id,
        event=event_name(signal),
        handler=handler,
        email=fields.get("email") or kwargs.get("email") or "",
        user_id=str(fields.get("id") or ""),
        sender=str(sender),
        user_type=type(user).__name__ if user is not None else "",
        kwarg_names=sorted([*kwargs, *(["user"] if user is not None else [])]),
        pid=os.getpid(),
    )


def record_delivery(signal: Signal, sender: object, **kwargs: Any) -> None:
    """Delivery probe (background): record one delivery of a payload without secrets."""
    _record_delivery("record_delivery", signal, sender, kwargs)


def record_delivery_with_secrets(signal: Signal, sender: object, **kwargs: Any) -> None:
    """Delivery probe (background, ``include_secrets``): the payload keeps ``url``."""
    _record_delivery("record_delivery_with_secrets", signal, sender, kwargs)
