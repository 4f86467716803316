"""``AuditEvent``: what the Django side recorded for one regstack event, never a secret."""

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


class BackgroundDelivery(models.Model):
    """One background delivery, as the handler saw it in the Tasks worker.

    Written only by the opt-in delivery probe (``TESTPROJECT_DELIVERY_PROBE=1``,
    see :mod:`testproject.settings`), so a test can count deliveries per
    ``(event, email, handler)`` and see what crossed the queue: the type the
    ``user`` kwarg arrived as, the kwarg names, and which process ran it.
    There is deliberately no unique constraint: a duplicate delivery must show
    up as a second row, not as a failed task.
    """

    event = models.CharField(max_length=64, db_index=True)
    #: The bridge's id of the event (one per fire and background entry), the same on
    #: every redelivery: two rows with one event_id and handler are a duplicate.
    event_id = models.UUIDField(null=True, blank=True, db_index=True)
    handler = models.CharField(max_length=100)
    email = models.EmailField(blank=True, db_index=True)
    user_id = models.CharField("regstack user id", max_length=64, blank=True)
    sender = models.CharField(max_length=200, blank=True)
    user_type = models.CharField("type of the user kwarg", max_length=100, blank=True)
    kwarg_names = models.JSONField(default=list, blank=True)
    pid = models.PositiveIntegerField("worker process id")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "background delivery"
        verbose_name_plural = "background deliveries"

    def __str__(self) -> str:
        return f"{self.event} ({self.email or self.user_id or 'anonymous'}) by {self.handler}"
