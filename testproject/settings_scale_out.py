"""The testproject's settings for the scale-out tests and figures (Redis, Celery, workers).

Verification off, one background handler per event the load fires, WAL SQLite, bounded brokers.
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

# The load comes from another process, which reads the e-mailed links from the server's log.
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

# On SQLite the server and several workers write one file: WAL lets readers run beside the
# writer, and IMMEDIATE takes the write lock up front (a writer waits instead of failing on an
# upgrade). Both are SQLite's options: another backend keeps its own.
_DEFAULT_DB = _BASE_DATABASES["default"]
if _DEFAULT_DB["ENGINE"] == "django.db.backends.sqlite3":
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
                "REDIS_BLOCK_TIMEOUT": 500,  # a stopped worker notices SIGTERM this fast
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
