"""The login benchmark's server (``benchmarks.login``): the site on PostgreSQL, in one of 3 modes.

``BENCH_LOGIN_MODE``: ``alone`` (bridge off), ``bridge`` (3 receivers), ``durable`` (and a durable
background handler); ``BENCH_DATABASE_URL`` / ``BENCH_REGSTACK_DATABASE_URL`` name the databases.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from benchmarks.projects.http import *  # noqa: F403 - a settings module extends another this way
from benchmarks.projects.http import INSTALLED_APPS as _BASE_APPS
from benchmarks.projects.http import TESTPROJECT_REGSTACK as _BASE_REGSTACK

MODE = os.environ.get("BENCH_LOGIN_MODE", "bridge")

# As docs/deployment.md sets Django's database up.
_db = urlsplit(os.environ["BENCH_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": unquote(_db.username or ""),
        "PASSWORD": unquote(_db.password or ""),
        "HOST": _db.hostname or "",
        "PORT": _db.port or "",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
TESTPROJECT_REGSTACK = {
    **_BASE_REGSTACK,
    "database_url": os.environ["BENCH_REGSTACK_DATABASE_URL"],
}
INSTALLED_APPS = [*_BASE_APPS, "benchmarks.projects.records"]

# What a login fires reaches: nothing (alone); a sync ORM write and an async receiver
# (records/receivers.py) and a settings-wired one; plus one durable background entry.
TESTPROJECT_ATTACH_BRIDGE = MODE != "alone"
BENCH_CONNECT_RECEIVERS = MODE != "alone"
_LOGIN: list[str | dict[str, object]] = ["benchmarks.receivers.settings_receiver"]
if MODE == "durable":
    _LOGIN.append(
        {
            "handler": "benchmarks.receivers.settings_receiver_empty",
            "background": True,
            "durable": True,
        }
    )
REGSTACK_HOOKS = {"user_logged_in": _LOGIN} if MODE != "alone" else {}
