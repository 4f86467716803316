"""The testproject as docs/deployment.md deploys it: PostgreSQL for Django and regstack, DEBUG off.

tests/project/test_deployment.py gives it ``DATABASE_URL`` and ``REGSTACK_DATABASE_URL``.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from testproject.settings import *  # noqa: F403 - a settings module extends another this way
from testproject.settings import LOGGING as _BASE_LOGGING
from testproject.settings import REGSTACK_HOOKS as _BASE_HOOKS
from testproject.settings import TESTPROJECT_REGSTACK as _BASE_REGSTACK

# As docs/deployment.md, "Settings", shows them (the test checks that these lines are here).
_db = urlsplit(os.environ["DATABASE_URL"])  # postgresql://user:password@host:5432/mysite
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
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
REGSTACK_HOOKS_ENQUEUE_TIMEOUT = 2.0

# The testproject builds its RegStack from TESTPROJECT_REGSTACK (a project with
# REGSTACK = {...} puts database_url there). The load logs in at once: no verification.
TESTPROJECT_REGSTACK = {
    **_BASE_REGSTACK,
    "database_url": os.environ["REGSTACK_DATABASE_URL"],  # postgresql+asyncpg://...
    "require_verification": False,
}

#: The deployment's two background entries: a durable one (must happen) and a plain one.
DEPLOY_HANDLER = "testproject.audit.hooks.record_delivery"
REGSTACK_HOOKS = {
    **_BASE_HOOKS,
    "user_registered": [{"handler": DEPLOY_HANDLER, "background": True, "durable": True}],
    "user_logged_in": [
        *_BASE_HOOKS.get("user_logged_in", []),
        {"handler": DEPLOY_HANDLER, "background": True},
    ],
}

# Every process logs to its standard error, level first, where the supervisor collects it:
# WARNING and up from any library, INFO from the bridge and the Tasks worker.
_INFO = {"handlers": ["console"], "level": "INFO", "propagate": False}
LOGGING = {
    **_BASE_LOGGING,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: _INFO
        for name in (
            "regstack_django",
            "testproject",
            "django_tasks",
            "django.tasks",
            "django_tasks_db",
        )
    },
}

# The deployment test's 500 flows check the processes, not argon2: it makes password
# hashing cheap (TESTPROJECT_CHEAP_ARGON2=1); a deployment keeps regstack's defaults.
if os.environ.get("TESTPROJECT_CHEAP_ARGON2"):
    import regstack.auth.password as _password
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    def _cheap_hasher(self: _password.PasswordHasher) -> None:
        self._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))

    _password.PasswordHasher.__init__ = _cheap_hasher  # type: ignore[method-assign]
