# signups/apps.py
from django.apps import AppConfig


class SignupsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "signups"

    def ready(self):
        from . import receivers  # noqa: F401  (connects the @receiver functions)
