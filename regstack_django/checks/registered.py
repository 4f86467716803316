"""The system checks this app registers (``manage.py check``).

Each function reads the settings now and returns check messages worded by
:mod:`regstack_django.checks`; :class:`~regstack_django.apps.RegstackDjangoConfig`
registers them in ``ready()``. They live apart from the words so that the
words import nothing and the parser (:mod:`regstack_django.handlers`) is
imported here at module level, with no cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import (
    DEFAULT_WORKER_WAIT,
    DEFAULT_WORKERS,
    ENQUEUE_TIMEOUT_SETTING,
    MAX_WORKERS,
    SECONDS_SETTINGS,
    WORKER_WAIT_SETTING,
    WORKERS_SETTING,
    conf,
    valid_seconds,
    valid_worker_wait,
    valid_workers,
)
from regstack_django.hooks.entries import parse_hooks_setting


def _ours(app_configs: Sequence[AppConfig] | None) -> bool:
    return app_configs is None or any(c.name == "regstack_django" for c in app_configs)


def check_hooks_setting(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report every problem in ``REGSTACK_HOOKS`` (and its companion setting)."""
    return parse_hooks_setting().problems if _ours(app_configs) else []


def check_seconds_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """``REGSTACK_HOOKS_ENQUEUE_TIMEOUT`` (E023) and the outbox settings (E024)."""
    if not _ours(app_configs):
        return []
    found = []
    for name, (default, maximum) in SECONDS_SETTINGS.items():
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        if valid_seconds(value, maximum):
            continue
        code = messages.E023 if name == ENQUEUE_TIMEOUT_SETTING else messages.E024
        found.append(
            problem(
                code,
                f"{name} must be a number of seconds, not {value!r}.",
                setting=name,
                maximum=maximum,
                default=default,
            )
        )
    return found


def check_regstack_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report what stops ``REGSTACK`` / ``REGSTACK_INSTANCE`` from giving one RegStack.

    Builds the instance the way :func:`regstack_django.get_regstack` does (and
    keeps it, so the site later uses the same one), and warns when regstack
    is left unconfigured while receivers wait for its events.
    """
    if not _ours(app_configs):
        return []
    from regstack_django.hosting import instance

    return [*instance.problems(), *instance.wiring_problems()]


def check_receivers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``@receiver`` functions on regstack's signals that the event cannot call."""
    if not _ours(app_configs):
        return []
    from regstack_django.checks.receivers import receiver_problems

    return receiver_problems()


def check_pool_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``REGSTACK_HOOKS_WORKERS`` (E020) and ``REGSTACK_HOOKS_WORKER_WAIT`` (E021)."""
    if not _ours(app_configs):
        return []
    found = []
    workers = conf.REGSTACK_HOOKS_WORKERS
    if not valid_workers(workers):
        found.append(
            problem(
                messages.E020,
                f"{WORKERS_SETTING} must be a whole number from 1 to {MAX_WORKERS}, "
                f"not {workers!r}.",
                setting=WORKERS_SETTING,
                default=DEFAULT_WORKERS,
            )
        )
    wait = conf.REGSTACK_HOOKS_WORKER_WAIT
    if not valid_worker_wait(wait):
        found.append(
            problem(
                messages.E021,
                f"{WORKER_WAIT_SETTING} must be a finite number of seconds, 0 or more, "
                f"not {wait!r}.",
                setting=WORKER_WAIT_SETTING,
                default=DEFAULT_WORKER_WAIT,
            )
        )
    return found


def settings_errors() -> list[CheckMessage]:
    """Return the errors that refuse start-up: the pool settings' and ``REGSTACK_HOOKS``'s."""
    return [*check_pool_settings(), *parse_hooks_setting().errors]
