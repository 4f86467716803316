"""The testproject's settings for the scale-out test and figures (Redis, Celery, workers).

Everything of :mod:`testproject.settings` (so the Tasks backend is still
chosen by ``TESTPROJECT_TASKS_BACKEND`` / ``TESTPROJECT_REDIS_URL``), plus:

* ``REGSTACK["require_verification"] = False``: the load comes from another
  process, which cannot read the verification links regstack keeps in the
  server's memory. ``POST /register`` then creates a usable account and fires
  ``user_registered``, so one user can go on to log in, log out and ask for
  password resets over HTTP.
* One *background* handler on each event that load fires
  (:data:`SCALE_OUT_EVENTS`): ``testproject.audit.hooks.record_delivery``,
  which writes one ``BackgroundDelivery`` row per task run (event, e-mail,
  worker pid), so the test counts deliveries per event and per worker.
  No ``include_secrets`` entry: the queue must carry no token URL.
* regstack's console e-mail logs each message body (with its link) at INFO on
  the server's output: the test reads the password-reset links from there, as
  a user reads them from a mailbox, and then looks for them in Redis.
* SQLite in WAL mode with immediate transactions: the server and several
  worker processes write the same file at once; WAL lets readers run beside
  the writer and ``IMMEDIATE`` takes the write lock up front, so a writer
  waits for it (``timeout``) instead of failing on a lock upgrade.
* ``TESTPROJECT_SCALE_OUT_HANDLER_SECONDS`` (default 0): the handler sleeps
  that long before it writes, like a handler waiting on a mail server; the
  figures use it to show what a second worker buys when handlers wait.
* A short blocking read for django-tasks-redis workers (500 ms instead of
  5 s): a gracefully stopped worker notices the signal within that time.

Select it with ``DJANGO_SETTINGS_MODULE=testproject.settings_scale_out``.
"""

from __future__ import annotations

import os

from testproject.settings import *  # noqa: F403 - a settings module extends another this way
from testproject.settings import DATABASES as _BASE_DATABASES
from testproject.settings import LOGGING as _BASE_LOGGING
from testproject.settings import REGSTACK as _BASE_REGSTACK
from testproject.settings import REGSTACK_HOOKS as _BASE_HOOKS
from testproject.settings import TASKS as _BASE_TASKS
from testproject.settings import TASKS_BACKEND as _TASKS_BACKEND

REGSTACK = {
    **_BASE_REGSTACK,
    "require_verification": False,
    "email": {"backend": "console", "log_bodies": True},
}
LOGGING = {
    **_BASE_LOGGING,
    "loggers": {
        **_BASE_LOGGING["loggers"],
        "regstack.email.console": {"handlers": ["mailbox"], "level": "INFO"},
    },
}

#: What the scale-out load fires: register, login, logout, forgot-password.
SCALE_OUT_EVENTS = (
    "user_registered",
    "user_logged_in",
    "user_logged_out",
    "password_reset_requested",
)
SCALE_OUT_HANDLER = "testproject.audit.hooks.record_delivery"
# Read by record_delivery (it sleeps this long first).
DELIVERY_PROBE_SECONDS = float(os.environ.get("TESTPROJECT_SCALE_OUT_HANDLER_SECONDS") or 0)

REGSTACK_HOOKS = {
    **_BASE_HOOKS,
    **{
        event: [
            *_BASE_HOOKS.get(event, []),
            {"handler": SCALE_OUT_HANDLER, "background": True},
        ]
        for event in SCALE_OUT_EVENTS
    },
}

_DEFAULT_DB = _BASE_DATABASES["default"]
DATABASES = {
    **_BASE_DATABASES,
    "default": {
        **_DEFAULT_DB,
        "OPTIONS": {
            **_DEFAULT_DB.get("OPTIONS", {}),
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        },
    },
}

if _TASKS_BACKEND == "redis":
    _redis = _BASE_TASKS["default"]
    TASKS = {
        **_BASE_TASKS,
        "default": {**_redis, "OPTIONS": {**_redis["OPTIONS"], "REDIS_BLOCK_TIMEOUT": 500}},
    }
elif _TASKS_BACKEND == "celery":
    # One message at a time per worker: a stopped worker hands back at most one
    # unstarted task, and two workers share a backlog evenly.
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
