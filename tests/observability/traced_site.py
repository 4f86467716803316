"""Settings of a small traced site (web side and ``db_worker``) on the SQLite files of one dir.

``TRACED_SITE_DIR`` names the dir; each process writes its spans, one JSON object a line, to
``TRACED_SPANS`` with the console exporter, configured here as a project's settings would.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tests.observability.console_tracing import export_spans_to

VAR = Path(os.environ["TRACED_SITE_DIR"])
export_spans_to(Path(os.environ["TRACED_SPANS"]))

SECRET_KEY = "regstack-django-traced-site"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "regstack_django",
    *([] if importlib.util.find_spec("django.tasks") else ["django_tasks"]),
    "django_tasks_db",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR / "db.sqlite3")}}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
REGSTACK_HOOKS = {
    "user_logged_in": [
        {"handler": "tests.observability.traced_site_hooks.welcome", "background": True}
    ]
}
REGSTACK_OPENTELEMETRY = True
