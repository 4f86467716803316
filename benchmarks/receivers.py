"""Receivers that settings name by dotted path (``REGSTACK_HOOKS``).

``REGSTACK_HOOKS`` needs importable module-level callables, so the
settings-wired receivers of the request and memory benchmarks live here.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

#: What :func:`settings_receiver` did: logins per user id (a light, real side effect).
LOGINS: Counter[str] = Counter()


def settings_receiver(sender: object, **kwargs: Any) -> None:
    """Count the event per user: the settings-wired receiver with a (small) body."""
    user = kwargs.get("user")
    LOGINS[str(getattr(user, "id", None))] += 1


def settings_receiver_empty(sender: object, **kwargs: Any) -> None:
    """The same receiver with its body removed: only the bridge's cost remains."""


def slow_login(sender: object, **kwargs: Any) -> None:
    """A slow side effect (a webhook without a timeout, a slow SMTP relay).

    Sleeps ``BENCH_LOGIN_RECEIVER_SECONDS`` (the HTTP concurrency benchmark's
    server sets it) in the worker thread that runs it.
    """
    time.sleep(float(os.environ.get("BENCH_LOGIN_RECEIVER_SECONDS") or 0))
