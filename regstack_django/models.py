"""The outbox: one row per durable background delivery (event x handler).

``message`` is the signed task argument; the admin never shows it (README, "Durable delivery").
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    """One durable delivery of one event to one background handler."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField("event id", db_index=True)
    event = models.CharField(max_length=200)
    handler = models.CharField("handler (dotted path)", max_length=300)
    message = models.TextField("signed task message", editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(
        "due at", default=timezone.now, help_text="When the relay may hand it out (again)."
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="How many times the relay handed it to the Tasks backend."
    )
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the handler finished in a worker."
    )
    last_error = models.TextField(
        blank=True, help_text="The last failure's type and message (never an argument value)."
    )

    class Meta:
        verbose_name = "outbox event"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "handler"], name="regstack_outbox_once")
        ]
        indexes = [models.Index(fields=["delivered_at", "available_at"], name="regstack_due")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.handler} ({self.event_id})"

    @property
    def delivered(self) -> bool:
        """Return whether a worker has finished the handler."""
        return self.delivered_at is not None
