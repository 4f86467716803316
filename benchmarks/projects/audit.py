"""The audit benchmark's settings (``benchmarks.audit``): the in-process ones plus the audit app.

No settings-wired receiver: without the audit app a login's fire takes the bridge's fast path.
"""

from __future__ import annotations

from benchmarks.settings import *  # noqa: F403 - a settings module extends another this way
from benchmarks.settings import INSTALLED_APPS as _BASE_APPS

INSTALLED_APPS = [*_BASE_APPS, "regstack_django.audit"]
REGSTACK_HOOKS: dict[str, list[str]] = {}
