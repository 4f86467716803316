"""The AppConfig: connect the ``@receiver`` functions when Django is ready."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "testproject.audit"
    label = "audit"
    verbose_name = "regstack audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from testproject.audit import receivers  # noqa: F401 - connects the receivers
