"""The outbox, the relays' heartbeats, @run_once claims, and the regstack user -> Django user link.

``message`` is the signed task argument; the admin never shows it (docs/background-delivery.md).
"""

from __future__ import annotations

import datetime

from django.conf import settings
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
        default=0, help_text="How many times the Tasks backend accepted it from the relay."
    )
    failures = models.PositiveIntegerField(
        default=0, help_text="How many runs of the handler raised (dead at the maximum)."
    )
    refusals = models.PositiveIntegerField(
        default=0, help_text="Broker refusals in a row (they back off, never count as runs)."
    )
    task_id = models.CharField(
        "last task id",
        max_length=64,
        blank=True,
        help_text="The Tasks backend's id of the last hand-out: ties a queued task to this row.",
    )
    dead_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was given up: it is never handed out again."
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

    def status(self, now: datetime.datetime | None = None) -> str:
        """Return one of pending, handed out, delivered, failing, dead."""
        if self.delivered_at is not None:
            return "delivered"
        if self.dead_at is not None:
            return "dead"
        if self.failures or self.refusals:
            return "failing"
        if self.attempts and self.available_at > (now or timezone.now()):
            return "handed out"
        return "pending"


class RelayHeartbeat(models.Model):
    """When one relay process (host and pid) last finished a pass."""

    id = models.BigAutoField(primary_key=True)
    relay = models.CharField("relay (host:pid)", max_length=200, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    handed_out = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "relay heartbeat"
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.relay} (seen {self.seen_at:%Y-%m-%d %H:%M:%S})"


class HandlerRun(models.Model):
    """One finished run of a ``@run_once`` handler for one event (regstack_django.once)."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField("event id")
    handler = models.CharField("handler (dotted path)", max_length=300)
    ran_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "handler run"
        ordering = ["-ran_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "handler"], name="regstack_run_once")
        ]

    def __str__(self) -> str:
        return f"{self.handler} ran for {self.event_id}"


class RegStackIdentity(models.Model):
    """The Django user linked to one regstack user (docs/users.md, "Django users")."""

    id = models.BigAutoField(primary_key=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="regstack_identity"
    )
    regstack_id = models.CharField("regstack user id", max_length=64, unique=True)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "regstack identity"
        verbose_name_plural = "regstack identities"
        ordering = ["-linked_at", "-id"]

    def __str__(self) -> str:
        return f"regstack user {self.regstack_id}"
