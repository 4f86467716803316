"""Turn one regstack event into an ``AuditEvent`` row, keeping secrets out.

``details`` is a whitelist: a kwarg regstack adds later is ignored, as it could be a credential.
"""

from __future__ import annotations

from typing import Any

from testproject.audit.models import AuditEvent

#: Event kwargs that are safe to store as they are. ``url`` (a live single-use
#: token) and ``user`` (which carries ``hashed_password``) are deliberately absent.
SAFE_DETAILS = (
    "provider",
    "mode",
    "was_new",
    "mfa_required",
    "new_email",
    "previous_email",
    "url_without_token",
)


def mask_phone(phone: str) -> str:
    """``+15555550123`` -> ``+*******0123``: enough to recognise, not to dial."""
    if len(phone) <= 4:
        return "*" * len(phone)
    head = "+" if phone.startswith("+") else ""
    return head + "*" * (len(phone) - len(head) - 4) + phone[-4:]


def sender_label(sender: object) -> str:
    """A short, stable name for the sender: the attached RegStack's class."""
    if isinstance(sender, str):  # background handlers get the dotted name already
        return sender
    cls = type(sender)
    return f"{cls.__module__}.{cls.__qualname__}"


def audit_fields(event: str, sender: object, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``AuditEvent`` field values for one fire (no secret ever among them)."""
    user = kwargs.get("user")
    user_id = getattr(user, "id", None)
    email = getattr(user, "email", None) or kwargs.get("email") or ""
    details = {name: kwargs[name] for name in SAFE_DETAILS if name in kwargs}
    if isinstance(kwargs.get("phone"), str):
        details["phone"] = mask_phone(kwargs["phone"])
    return {
        "event": event,
        "user_id": "" if user_id is None else str(user_id),
        "email": str(email),
        "details": details,
        "sender": sender_label(sender),
    }


def record(event: str, sender: object, kwargs: dict[str, Any]) -> AuditEvent:
    """Save one ``AuditEvent`` (sync ORM: the bridge runs this off the event loop)."""
    return AuditEvent.objects.create(**audit_fields(event, sender, kwargs))
