"""The connection benchmark's site: Django and regstack on PostgreSQL, receivers fast or slow.

``benchmarks.connections`` sets the environment: ``BENCH_PG_SERVER`` (a libpq URL),
``BENCH_DJANGO_DB`` and ``BENCH_REGSTACK_DB`` (database names), ``BENCH_CONN_MAX_AGE``,
``BENCH_RECEIVER_SECONDS``. It is also its own (empty) URLconf: the load hits regstack only.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any
from urllib.parse import urlsplit

_server = urlsplit(os.environ["BENCH_PG_SERVER"])
_auth = (
    f"{_server.username or 'postgres'}:{_server.password or ''}@{_server.hostname}:{_server.port}"
)

SECRET_KEY = "regstack-django-connection-benchmark"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "benchmarks.projects.connections"
urlpatterns: list[Any] = []
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "regstack_django",
    *([] if importlib.util.find_spec("django.tasks") else ["django_tasks"]),
    "django_tasks_db",
    "benchmarks.projects.records",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_DJANGO_DB"],
        "USER": _server.username or "postgres",
        "PASSWORD": _server.password or "",
        "HOST": _server.hostname,
        "PORT": str(_server.port),
        "CONN_MAX_AGE": int(os.environ.get("BENCH_CONN_MAX_AGE") or 0),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

REGSTACK = {
    "database_url": f"postgresql+asyncpg://{_auth}/{os.environ['BENCH_REGSTACK_DB']}",
    "jwt_secret": "regstack-django-connection-benchmark-0123456789",
    "base_url": "http://127.0.0.1",
    "require_verification": False,
}
_RECEIVERS = "benchmarks.projects.connection_receivers"
REGSTACK_HOOKS: dict[str, list[str | dict[str, object]]] = {
    "user_registered": [f"{_RECEIVERS}.sync_write", f"{_RECEIVERS}.async_write"],
    "user_logged_in": [
        f"{_RECEIVERS}.sync_write",
        f"{_RECEIVERS}.async_write",
        {"handler": f"{_RECEIVERS}.background_note", "background": True},
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"regstack_django": {"handlers": ["console"], "level": "WARNING"}},
}

# argon2 at regstack's defaults costs ~100 ms of CPU per hash on regstack's event loop:
# cheap hashing in this server lets many requests reach the database at once.
if os.environ.get("BENCH_CHEAP_ARGON2"):
    import regstack.auth.password as _password
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    def _cheap_hasher(self: _password.PasswordHasher) -> None:
        self._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))

    _password.PasswordHasher.__init__ = _cheap_hasher  # type: ignore[method-assign]
