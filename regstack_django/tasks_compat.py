"""Find Django's Tasks framework: ``django.tasks`` (6.0+) or the ``django_tasks`` backport.

Background handlers enqueue through whichever is importable; both expose
``task``, ``task_backends`` and ``InvalidTaskBackend`` under the same names.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage

from regstack_django import checks
from regstack_django.checks import problem

_CANDIDATES = ("django.tasks", "django_tasks")


@cache
def tasks_module() -> ModuleType | None:
    """The Tasks framework module, or ``None`` when neither is installed."""
    for name in _CANDIDATES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "task_backends"):
            return module
    return None


def backend_aliases() -> list[str]:
    """The configured Tasks backend aliases (Django's default is ``default``)."""
    configured = getattr(settings, "TASKS", None)
    return sorted(configured) if configured else ["default"]


def background_problems(where: str, path: str, options: dict[str, Any]) -> list[CheckMessage]:
    """What stops ``path`` from running in the background, as check messages.

    Beyond the alias, the backend itself judges the task options (a queue it
    does not serve, a priority it does not support), so a mistake shows at
    start-up rather than as a failed enqueue on every event.
    """
    if tasks_module() is None:
        return [
            problem(
                checks.E010,
                f"{where} ({path!r}) is a background handler, but neither django.tasks "
                "(Django 6.0+) nor the django_tasks backport is installed.",
            )
        ]
    aliases = backend_aliases()
    backend = options.get("backend")
    if backend is not None and backend not in aliases:
        return [
            problem(
                checks.E011,
                f"{where} ({path!r}) names the Tasks backend {backend!r}, which is not in TASKS.",
                aliases=", ".join(repr(a) for a in aliases),
            )
        ]
    from regstack_django.background import task_with_options

    try:
        task_with_options(options)
    except Exception as exc:
        return [
            problem(
                checks.E011,
                f"{where} ({path!r}): the Tasks backend refuses these options "
                f"({type(exc).__name__}: {exc}).",
                aliases=", ".join(repr(a) for a in aliases),
            )
        ]
    return []
