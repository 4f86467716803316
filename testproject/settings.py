"""Settings of the testproject: a Django site that embeds regstack.

Django's settings, ``REGSTACK_INSTANCE`` and ``REGSTACK_HOOKS`` side by side; the environment
switches below (``DJANGO_*``, ``REGSTACK_*``, ``TESTPROJECT_*``) serve the tests and benchmarks.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import django
from django.core.exceptions import ImproperlyConfigured

from support import databases

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
    "regstack_django",  # before staticfiles: its runserver serves regstack too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *([] if HAS_DJANGO_TASKS else ["django_tasks"]),
    "django_tasks_db",
    "testproject.audit",
    "regstack_django.audit",  # the audit log: every event an AuthEvent, a dashboard in the admin
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
        # Tests: a file, not SQLite's shared-cache memory database, whose table locks
        # fail at once ("database table is locked") when the bridge's worker and
        # enqueue threads write side by side; a file waits out the lock (timeout).
        "TEST": {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")},
    }
}
_regstack_database_url = f"sqlite+aiosqlite:///{VAR_DIR / 'regstack.sqlite3'}?timeout=30"

# The tests' PostgreSQL leg (REGSTACK_TEST_DATABASE=postgres; support/databases.py): both
# databases on the server at REGSTACK_TEST_POSTGRES. A site the tests run in other processes
# names its pair in TESTPROJECT_POSTGRES_DB (Django's; regstack's is "<it>_regstack"); a test
# run's own pair is named for the run, and its regstack database made before the first test.
if databases.on_postgres():
    _postgres_db = os.environ.get("TESTPROJECT_POSTGRES_DB", "").strip()
    if not _postgres_db:
        _postgres_db = databases.unique_name("testproject")
        databases.RUN_DATABASES.append(f"{_postgres_db}_regstack")
    DATABASES = {
        "default": databases.django_database(_postgres_db, TEST={"NAME": f"test_{_postgres_db}"})
    }
    _regstack_database_url = databases.regstack_url(f"{_postgres_db}_regstack")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# The welcome e-mail (a background handler) is printed by the Tasks worker.
# E-mail (the background welcome message) goes to the console. Django 6.1
# replaced EMAIL_BACKEND with MAILERS; older Djangos only know EMAIL_BACKEND.
_CONSOLE_MAIL = "django.core.mail.backends.console.EmailBackend"
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _CONSOLE_MAIL}}
else:
    EMAIL_BACKEND = _CONSOLE_MAIL
DEFAULT_FROM_EMAIL = "regstack-demo@example.com"

# Background handlers are enqueued through the Tasks backend TESTPROJECT_TASKS_BACKEND
# names (docs/scaling-out.md); each has its own worker command:
# - "database" (the default): django-tasks-db; 'python manage.py db_worker';
# - "redis" (Django 6.x): django-tasks-redis; 'python manage.py run_redis_tasks --continuous';
# - "celery" (Django 6.x): django-tasks-celery, Redis as the broker;
#   'celery -A testproject.celery_app worker'.
# The last two use the Redis server at TESTPROJECT_REDIS_URL.
TASKS_BACKEND = os.environ.get("TESTPROJECT_TASKS_BACKEND", "").strip() or "database"
REDIS_URL = os.environ.get("TESTPROJECT_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
if TASKS_BACKEND in {"redis", "celery"} and not importlib.util.find_spec(
    f"django_tasks_{TASKS_BACKEND}"
):
    raise ImproperlyConfigured(
        f"TESTPROJECT_TASKS_BACKEND={TASKS_BACKEND} needs Django 6.x and the 'scaleout' "
        f"dependency group (django-tasks-{TASKS_BACKEND} is not installed)."
    )
if TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_BACKEND == "redis":
    INSTALLED_APPS.append("django_tasks_redis")  # its admin pages; it has no tables
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "QUEUES": [],  # any queue name
            "OPTIONS": {"REDIS_URL": REDIS_URL},
        }
    }
elif TASKS_BACKEND == "celery":
    CELERY_BROKER_URL = REDIS_URL
    # No result backend: nothing reads a background handler's result, and a Redis
    # result backend subscribes to each task's result channel *in the request*; with
    # Redis down that retries for ~15 s per event (docs/scaling-out.md).
    SILENCED_SYSTEM_CHECKS = ["django_tasks_celery.W001", "django_tasks_celery.W002"]
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_celery.CeleryBackend",
            "QUEUES": ["default"],
            # The web process enqueues through this app too, not Celery's default app.
            "OPTIONS": {"CELERY_APP": "testproject.celery_app.app"},
        }
    }
else:
    raise ImproperlyConfigured(
        f"TESTPROJECT_TASKS_BACKEND is {TASKS_BACKEND!r}: set it to 'database' (the "
        "default), 'redis' or 'celery'."
    )

# The regstack side. A project whose regstack needs only settings writes
# REGSTACK = {...} (RegStackConfig fields); this one registers a stand-in OAuth
# provider for the tour, so it names its own builder instead. regstack_django
# calls it once, bridges the instance and serves it (asgi.py, runserver).
REGSTACK_INSTANCE = "testproject.instance.build_regstack"

# The RegStackConfig fields that build_regstack uses.
TESTPROJECT_REGSTACK = {
    "api_prefix": "/api/auth",
    "base_url": os.environ.get("REGSTACK_BASE_URL", "http://127.0.0.1:8000"),
    # On SQLite, timeout=30: regstack hashes passwords with argon2 on its event loop
    # (~100 ms per hash), so concurrent requests hold SQLite's write lock long enough
    # that other writes fail with "database is locked" unless they wait for it.
    "database_url": _regstack_database_url,
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

# SecretsFilter scrubs live token links and password hashes from every record this
# handler writes, whichever library logged it (docs/security.md).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"secrets": {"()": "regstack_django.logging.SecretsFilter"}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]},
        # A stand-in for a real mailbox, unscrubbed on purpose: the tests that read
        # the e-mailed links from the server's output route regstack.email.console
        # here (the delivery probe below, settings_scale_out). Never in production.
        "mailbox": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "regstack_django": {"handlers": ["console"], "level": "INFO"},
        "testproject": {"handlers": ["console"], "level": "INFO"},
    },
}

# The delivery probe: off unless TESTPROJECT_DELIVERY_PROBE=1, so the demo is unchanged.
# tests/project/test_worker.py turns it on in the server and worker processes it starts:
# background handlers record each delivery as a BackgroundDelivery row (one
# include_secrets entry shows what opting in puts in the queue), and regstack's console
# e-mail logs its bodies, so a test driving the server over HTTP reads the token links
# from the server's output as a user reads them from a mailbox.
# TESTPROJECT_DELIVERY_PROBE_SECONDS makes each probe delivery sleep that long first.
if _env_flag("TESTPROJECT_DELIVERY_PROBE", default=False):
    DELIVERY_PROBE_SECONDS = float(os.environ.get("TESTPROJECT_DELIVERY_PROBE_SECONDS") or 0)
    TESTPROJECT_REGSTACK["email"] = {"backend": "console", "log_bodies": True}
    # Tests read the links from the server's output: the unscrubbed "mailbox" handler.
    LOGGING["loggers"]["regstack.email.console"] = {
        "handlers": ["mailbox"],
        "level": "INFO",
        "propagate": False,
    }
    for _event in ("verification_requested", "user_verified", "user_logged_in"):
        REGSTACK_HOOKS.setdefault(_event, []).append(
            {"handler": "testproject.audit.hooks.record_delivery", "background": True}
        )
    REGSTACK_HOOKS["verification_requested"].append(
        {
            "handler": "testproject.audit.hooks.record_delivery_with_secrets",
            "background": True,
            "include_secrets": True,
        }
    )

# Durable background delivery (docs/background-delivery.md): off unless
# TESTPROJECT_DURABLE=1. Then every background entry above is durable, and
# 'python manage.py regstack_relay' runs beside the Tasks worker.
DURABLE = _env_flag("TESTPROJECT_DURABLE", default=False)


def make_durable(hooks: dict[str, list]) -> dict[str, list]:  # type: ignore[type-arg]
    """``hooks`` with every background entry durable (``on_commit`` does not apply then)."""
    return {
        event: [
            {**{k: v for k, v in e.items() if k != "on_commit"}, "durable": True}
            if isinstance(e, dict) and e.get("background")
            else e
            for e in entries
        ]
        for event, entries in hooks.items()
    }


if DURABLE:
    REGSTACK_HOOKS = make_durable(REGSTACK_HOOKS)
for _name in ("LEASE", "POLL_INTERVAL", "BACKOFF_MAX"):
    if os.environ.get(f"TESTPROJECT_OUTBOX_{_name}"):
        globals()[f"REGSTACK_OUTBOX_{_name}"] = float(os.environ[f"TESTPROJECT_OUTBOX_{_name}"])
