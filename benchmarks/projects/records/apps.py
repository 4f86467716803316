"""The records app: connects the login benchmark's receivers where its settings ask."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class RecordsConfig(AppConfig):
    name = "benchmarks.projects.records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if getattr(settings, "BENCH_CONNECT_RECEIVERS", False):
            from benchmarks.projects.records import receivers

            receivers.connect()
