"""Django settings of the in-process benchmarks, on a throw-away SQLite file removed at exit.

One settings-wired receiver is named in ``REGSTACK_HOOKS``, so the request and memory
benchmarks exercise the wiring path a project uses.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import tempfile
from pathlib import Path

TEMP_DIR = Path(tempfile.mkdtemp(prefix="regstack_django_bench_"))
atexit.register(shutil.rmtree, TEMP_DIR, ignore_errors=True)

SECRET_KEY = "regstack-django-benchmarks"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "regstack_django",
    "benchmarks.projects.records",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(TEMP_DIR / "django.sqlite3")}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django 6.0+ ships django.tasks; on 5.2 the django_tasks backport stands in.
TASKS_PACKAGE = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
if TASKS_PACKAGE == "django_tasks":
    INSTALLED_APPS.append("django_tasks")
TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}

REGSTACK = {"jwt_secret": "regstack-django-benchmarks-jwt-secret-0123456789"}
REGSTACK_HOOKS_RAISE_ERRORS = False

#: The settings-wired receiver of the request benchmark (``user_logged_in``).
#: ``benchmarks.request`` swaps it with ``override_settings`` per configuration,
#: which goes through the same wiring code as start-up.
REGSTACK_HOOKS = {"user_logged_in": ["benchmarks.receivers.settings_receiver"]}
