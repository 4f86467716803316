"""Settings of ``benchmarks.auth_middleware``: the benchmark settings plus sessions and caches."""

from __future__ import annotations

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.sessions"]  # noqa: F405
AUTHENTICATION_BACKENDS = ["regstack_django.auth.RegStackBackend"]
REGSTACK_HOOKS: dict[str, list[str]] = {}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # A cache every process shares, from the database the benchmark already has.
    "shared": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "regstack_auth_cache",
    },
}
