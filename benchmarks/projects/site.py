"""The testproject's site as a benchmark server runs it: apps, URLs and regstack named by string.

Production-like (DEBUG off), database Tasks backend, verification off: the client is another
process and cannot read the verification links regstack keeps in the server's memory.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "regstack-django-benchmark-server"
ALLOWED_HOSTS = ["127.0.0.1"]
VAR_DIR = Path(os.environ.get("TESTPROJECT_VAR_DIR") or tempfile.mkdtemp(prefix="bench_site_"))

INSTALLED_APPS = [
    "regstack_django",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *([] if importlib.util.find_spec("django.tasks") else ["django_tasks"]),
    "django_tasks_db",
    "testproject.audit",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

REGSTACK_INSTANCE = "testproject.instance.build_regstack"
TESTPROJECT_REGSTACK = {
    "api_prefix": "/api/auth",
    "base_url": os.environ.get("REGSTACK_BASE_URL", "http://127.0.0.1"),
    # argon2 runs on regstack's loop, so concurrent requests hold SQLite's write lock a while.
    "database_url": f"sqlite+aiosqlite:///{VAR_DIR / 'regstack.sqlite3'}?timeout=30",
    "jwt_secret": os.environ.get("REGSTACK_JWT_SECRET")
    or "regstack-django-benchmark-jwt-0123456789",
    "require_verification": False,
}
#: The testproject's own settings-wired receivers.
REGSTACK_HOOKS: dict[str, list[str | dict[str, object]]] = {
    "user_logged_in": ["testproject.audit.hooks.record_login"],
    "user_logged_out": ["testproject.audit.hooks.record_logout"],
    "password_changed": ["testproject.audit.hooks.record_password_change"],
    "user_verified": [
        {"handler": "testproject.audit.hooks.send_welcome_email", "background": True}
    ],
}

# benchmarks.load parses the bridge's failure lines in this format.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"secrets": {"()": "regstack_django.logging.SecretsFilter"}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]},
    },
    "loggers": {
        "regstack_django": {"handlers": ["console"], "level": "INFO"},
        "testproject": {"handlers": ["console"], "level": "INFO"},
    },
}
