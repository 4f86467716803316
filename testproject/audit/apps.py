"""The AppConfig: connect the ``@receiver`` functions when Django is ready.

Importing :mod:`.receivers` in ``ready()`` is the Django convention for signal
receivers; their ``dispatch_uid`` keeps a second ``ready()`` from connecting
them twice.
"""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "testproject.audit"
    label = "audit"
    verbose_name = "regstack audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from testproject.audit import receivers  # noqa: F401 - connects the receivers
