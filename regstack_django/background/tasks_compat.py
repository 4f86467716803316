"""Find Django's Tasks framework: ``django.tasks`` (6.0+) or the ``django_tasks`` backport.

It imports nothing from this package, so the settings parser and the background
modules can both use it without an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import cache
from types import ModuleType
from typing import Any, Literal

from django.conf import settings

_CANDIDATES = ("django.tasks", "django_tasks")

#: The task options a background entry may set; the backend judges their values.
TASK_OPTIONS = ("queue_name", "priority", "backend")


@cache
def tasks_module() -> ModuleType | None:
    """Return the Tasks framework module, or ``None`` when neither is installed."""
    for name in _CANDIDATES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "task_backends"):
            return module
    return None


def as_task(function: Callable[..., None]) -> Any:
    """Return ``function`` as a Task of the installed framework, or itself without one."""
    module = tasks_module()
    return function if module is None else module.task(function)


def backend_aliases() -> list[str]:
    """Return the configured Tasks backend aliases (Django's default is ``default``)."""
    configured = getattr(settings, "TASKS", None)
    return sorted(configured) if configured else ["default"]


def chosen_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry's task options that are set (``None`` means the backend's default)."""
    return {name: options[name] for name in TASK_OPTIONS if options.get(name) is not None}


def backend_kind(alias: str | None) -> Literal["immediate", "dummy"] | None:
    """Return which of Django's Immediate or Dummy backends ``alias`` is, by class name.

    A project's subclass of either counts too, since it inherits the behaviour.
    """
    module = tasks_module()
    if module is None:
        return None
    try:
        backend = module.task_backends[alias or "default"]
    except Exception:
        return None
    names = {cls.__name__ for cls in type(backend).__mro__}
    if "ImmediateBackend" in names:
        return "immediate"
    if "DummyBackend" in names:
        return "dummy"
    return None


def probe(*args: Any, **kwargs: Any) -> None:
    """Do nothing: a module-level function to ask a backend about task options."""


@cache
def _probe_task() -> Any:
    return as_task(probe)


def refused_options(options: Mapping[str, Any]) -> Exception | None:
    """Return the backend's own objection to an entry's task options, or ``None``.

    ``Task.using()`` makes the backend validate the task, so a bad queue or
    priority shows at start-up rather than as a failed enqueue on every event.
    """
    chosen = chosen_options(options)
    if not chosen:
        return None
    try:
        _probe_task().using(**chosen)
    except Exception as exc:
        return exc
    return None
