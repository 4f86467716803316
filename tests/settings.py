"""Minimal settings for the test suite (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import tempfile

from support import databases

SECRET_KEY = "regstack-django-tests"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "regstack_django",
    "tests.testapp",
]
# A file, not ":memory:": sync receivers run in worker threads, and the
# connection tests need close() to really close (in-memory SQLite ignores it).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "regstack_django_tests",
        "TEST": {
            "NAME": os.path.join(tempfile.gettempdir(), f"regstack_django_tests_{os.getpid()}.db")
        },
    }
}
# The PostgreSQL leg (REGSTACK_TEST_DATABASE=postgres): Django's test database and
# regstack's own database on the server at REGSTACK_TEST_POSTGRES, named for this run.
if databases.on_postgres():
    _test_name = databases.unique_name("test_regstack_django")
    DATABASES = {
        "default": databases.django_database("regstack_django_tests", TEST={"NAME": _test_name}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.urls"

# Django 6.0+ ships django.tasks; on 5.2 the django_tasks backport stands in.
TASKS_PACKAGE = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
if TASKS_PACKAGE == "django_tasks":
    INSTALLED_APPS.append("django_tasks")
TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}

# regstack configured as a project does it: regstack_django builds and attaches the
# RegStack (get_regstack()); its default SQLite file sits next to the test database.
REGSTACK = {"jwt_secret": "regstack-django-tests-jwt-secret-0123456789"}
if databases.on_postgres():
    REGSTACK["database_url"] = databases.regstack_url(databases.run_database("regstack_tests"))

# Receiver failures in this suite are asserted on, not raised.
REGSTACK_HOOKS_RAISE_ERRORS = False
