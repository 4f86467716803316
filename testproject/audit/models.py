"""``AuditEvent``: what the Django side recorded for one regstack event.

Only safe facts are stored: the event name, the user's id and e-mail address,
and a few whitelisted extras (see :mod:`.records`). Never the live-token
``url`` nor anything from the user's password hash.
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One regstack event as a Django receiver saw it."""

    event = models.CharField(max_length=64, db_index=True)
    user_id = models.CharField("regstack user id", max_length=64, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    sender = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit event"

    def __str__(self) -> str:
        who = self.email or self.user_id or "anonymous"
        return f"{self.event} ({who})"
