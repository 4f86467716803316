"""Settings of ``benchmarks.auth_middleware``: the benchmark settings plus sessions."""

from __future__ import annotations

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.sessions"]  # noqa: F405
AUTHENTICATION_BACKENDS = ["regstack_django.auth.RegStackBackend"]
REGSTACK_HOOKS: dict[str, list[str]] = {}
