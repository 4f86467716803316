"""Settings of the processes the PostgreSQL connection tests start: the test suite's, on PostgreSQL.

From the environment: ``REGSTACK_TEST_POSTGRES`` (the server), ``CONNECTIONS_DATABASE``
(Django's ``NAME``; the test database is ``test_`` + it), ``CONNECTIONS_MAX_AGE`` and
``CONNECTIONS_APP`` (the ``application_name`` its backends are counted by).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from tests.settings import *  # noqa: F403 - a settings module extends another this way

_server = urlsplit(os.environ["REGSTACK_TEST_POSTGRES"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["CONNECTIONS_DATABASE"],
        "USER": _server.username or "postgres",
        "PASSWORD": _server.password or "",
        "HOST": _server.hostname or "127.0.0.1",
        "PORT": str(_server.port or 5432),
        "CONN_MAX_AGE": int(os.environ.get("CONNECTIONS_MAX_AGE", "0")),
        "OPTIONS": {"application_name": os.environ["CONNECTIONS_APP"]},
    }
}
# Django's side only: these processes build no RegStack.
REGSTACK = None
REGSTACK_HOOKS_WORKERS = 4
# A busy machine must not turn a slow connect into a refused fire.
REGSTACK_HOOKS_WORKER_WAIT = 30.0
