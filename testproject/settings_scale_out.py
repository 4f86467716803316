"""The testproject's settings for the scale-out test and figures (Redis, Celery, workers).

Everything of :mod:`testproject.settings` (so the Tasks backend is still
chosen by ``TESTPROJECT_TASKS_BACKEND`` / ``TESTPROJECT_REDIS_URL``), plus:

* ``TESTPROJECT_REGSTACK["require_verification"] = False``: the load comes from another
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
* Bounded broker calls (docs/scale-out.md, "Timeouts"): django-tasks-redis
  leaves its socket timeout unbounded by default, so a frozen Redis would
  hold an enqueue forever; here the socket timeout is 2 s (above the 500 ms
  blocking read, as django-tasks-redis requires) and connecting 1 s. For
  Celery, the Redis transport's socket and connect timeouts are 1 s and a
  failed publish is retried once. ``REGSTACK_HOOKS_ENQUEUE_TIMEOUT`` (2 s)
  bounds what a request waits whatever the backend does.
* ``TESTPROJECT_DURABLE=1`` makes these entries durable too.

Select it with ``DJANGO_SETTINGS_MODULE=testproject.settings_scale_out``.
"""

from __future__ import annotations

import os

from testproject.settings import *  # noqa: F403 - a settings module extends another this way
from testproject.settings import DATABASES as _BASE_DATABASES
from testproject.settings import DURABLE as _DURABLE
from testproject.settings import LOGGING as _BASE_LOGGING
from testproject.settings import REGSTACK_HOOKS as _BASE_HOOKS
from testproject.settings import TASKS as _BASE_TASKS
from testproject.settings import TASKS_BACKEND as _TASKS_BACKEND
from testproject.settings import TESTPROJECT_REGSTACK as _BASE_REGSTACK
from testproject.settings import make_durable

TESTPROJECT_REGSTACK = {
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
if _DURABLE:
    REGSTACK_HOOKS = make_durable(REGSTACK_HOOKS)

# What a request waits, at most, for one background enqueue (or outbox write).
REGSTACK_HOOKS_ENQUEUE_TIMEOUT = 2.0

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
        "default": {
            **_redis,
            "OPTIONS": {
                **_redis["OPTIONS"],
                "REDIS_BLOCK_TIMEOUT": 500,
                # Unbounded by default: a frozen Redis would hold the enqueue forever.
                "REDIS_SOCKET_TIMEOUT": 2,
                "REDIS_SOCKET_CONNECT_TIMEOUT": 1,
            },
        },
    }
elif _TASKS_BACKEND == "celery":
    # One message at a time per worker: a stopped worker hands back at most one
    # unstarted task, and two workers share a backlog evenly.
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    # Bounded publishes: the Redis transport's socket timeouts, and one retry.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 1, "socket_connect_timeout": 1}
    CELERY_BROKER_CONNECTION_TIMEOUT = 1
    CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
