"""The audit app's AppConfig: connect the recorders and register its check."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class AuditConfig(AppConfig):
    name = "regstack_django.audit"
    label = "regstack_audit"
    verbose_name = "regstack audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect once (``dispatch_uid``), however often Django calls it."""
        from regstack_django.audit import record
        from regstack_django.audit.checks import check_audit_settings

        checks.register(check_audit_settings)
        record.connect()
