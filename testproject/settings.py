"""Settings of the testproject: a Django site that embeds regstack.

Both halves are configured here, so a Django developer finds everything in the
usual place: Django's own settings, ``REGSTACK`` (what
:mod:`testproject.regstack_site` passes to regstack's ``RegStackConfig``) and
``REGSTACK_HOOKS`` (which functions ``regstack_django`` connects to which
regstack event).

Environment variables:

``DJANGO_DEBUG``
    ``1`` (the default, for the demo) or ``0`` for production-like settings.
``DJANGO_SECRET_KEY``, ``REGSTACK_JWT_SECRET``
    Required when ``DJANGO_DEBUG=0``; with DEBUG on, development defaults apply.
``DJANGO_ALLOWED_HOSTS``
    Comma-separated; used when ``DJANGO_DEBUG=0``.
``REGSTACK_BASE_URL``
    Where regstack's e-mailed links point (default ``http://127.0.0.1:8000``).
``TESTPROJECT_VAR_DIR``
    Where both SQLite files live (default ``testproject/var/``); tests and
    throw-away demo runs point it at a temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _required_in_production(name: str, development_default: str, what: str) -> str:
    """The variable's value; the development default only when DEBUG is on."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return development_default
    raise ImproperlyConfigured(
        f"The environment variable {name} is not set: set it to {what}. It is required "
        "when DJANGO_DEBUG is off (development defaults apply only with DEBUG on)."
    )


DEBUG = _env_flag("DJANGO_DEBUG", default=True)

SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY",
    "django-insecure-testproject-development-key-not-for-production",
    "a long random string (Django's SECRET_KEY)",
)
ALLOWED_HOSTS = (
    ["127.0.0.1", "localhost", "testserver"]
    if DEBUG
    else [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
)

# Both SQLite files (Django's and regstack's) live here; the directory is gitignored.
VAR_DIR = Path(os.environ.get("TESTPROJECT_VAR_DIR") or BASE_DIR / "testproject" / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Django 6.0+ ships django.tasks; on Django 5.2 the django_tasks backport stands in.
HAS_DJANGO_TASKS = importlib.util.find_spec("django.tasks") is not None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *([] if HAS_DJANGO_TASKS else ["django_tasks"]),
    "django_tasks_db",
    "regstack_django",
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
        "DIRS": [],
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

ASGI_APPLICATION = "testproject.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        # Receivers write from regstack's requests while the Tasks worker (another
        # process) writes task results: wait for SQLite's lock instead of failing.
        "OPTIONS": {"timeout": 30},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# The welcome e-mail (a background handler) is printed by the Tasks worker.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "regstack-demo@example.com"

# Background handlers are enqueued here and run by 'python manage.py db_worker'.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# The regstack side: RegStackConfig fields, read by testproject.regstack_site.
REGSTACK = {
    "api_prefix": "/api/auth",
    "base_url": os.environ.get("REGSTACK_BASE_URL", "http://127.0.0.1:8000"),
    # timeout=30: regstack hashes passwords with argon2 on its event loop (~100 ms
    # per hash), so concurrent requests hold SQLite's write lock long enough that
    # other writes fail with "database is locked" unless they wait for it.
    "database_url": f"sqlite+aiosqlite:///{VAR_DIR / 'regstack.sqlite3'}?timeout=30",
    "jwt_secret": _required_in_production(
        "REGSTACK_JWT_SECRET",
        "regstack-django-testproject-dev-jwt-secret-not-for-production",
        "a random string of at least 32 characters (regstack signs its session tokens with it)",
    ),
}

# Most audit receivers are connected with @receiver in testproject/audit/receivers.py;
# these are wired by dotted path instead, to show both ways.
REGSTACK_HOOKS = {
    "user_logged_in": ["testproject.audit.hooks.record_login"],
    "user_logged_out": ["testproject.audit.hooks.record_logout"],
    "password_changed": ["testproject.audit.hooks.record_password_change"],
    "user_verified": [
        # Runs in the Tasks worker ('manage.py db_worker'), not in the request.
        {"handler": "testproject.audit.hooks.send_welcome_email", "background": True},
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "regstack_django": {"handlers": ["console"], "level": "INFO"},
        "testproject": {"handlers": ["console"], "level": "INFO"},
    },
}
