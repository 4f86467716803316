"""``AuthEvent``: one regstack event (or a receiver failure) as the audit log stores it."""

from __future__ import annotations

from django.db import models

#: The ``event`` of a row that records a failed receiver, not an auth event.
RECEIVER_FAILED = "receiver_failed"
#: The ``event`` of a failed sign-in.
LOGIN_FAILED = "login_failed"


class AuthEvent(models.Model):
    """One event as fired: who, from where, when; never a token, a password or a hash."""

    event = models.CharField(max_length=64, db_index=True)
    user_id = models.CharField("regstack user id", max_length=64, blank=True, db_index=True)
    email = models.CharField(max_length=320, blank=True, db_index=True)
    client_ip = models.GenericIPAddressField("IP address", null=True, blank=True, db_index=True)
    #: The request's :class:`~regstack_django.EventContext` as a dict; ``None`` outside a request.
    context = models.JSONField(null=True, blank=True)
    #: Safe arguments of the event (provider, reason, a masked phone...), a whitelist.
    details = models.JSONField(default=dict, blank=True)
    event_id = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(db_index=True)

    #: Declared, so type checkers know it where the app is not in their settings' INSTALLED_APPS.
    objects: models.Manager[AuthEvent] = models.Manager()

    class Meta:
        # Explicit: imported where the audit app is not installed (docs, checks), the model
        # must not fall to the containing app, regstack_django, and join its models.
        app_label = "regstack_audit"
        ordering = ["-created_at", "-id"]
        verbose_name = "auth event"
        indexes = [models.Index(fields=["event", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event} ({self.email or self.user_id or 'anonymous'})"
