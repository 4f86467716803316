"""Find Django's Tasks framework: ``django.tasks`` (6.0+) or the ``django_tasks`` backport.

This is the adapter and nothing else: which framework is installed, which
backends are configured, what kind of backend an alias names, and whether a
backend accepts an entry's task options. It imports nothing from this
package, so the settings parser (:mod:`regstack_django.handlers`) and the
background modules can both use it without an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from types import ModuleType
from typing import Any, Literal

from django.conf import settings

_CANDIDATES = ("django.tasks", "django_tasks")

#: The task options a background entry may set; the backend judges their values.
TASK_OPTIONS = ("queue_name", "priority", "backend")


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


def chosen_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's task options that are set (``None`` means the backend's default)."""
    return {name: options[name] for name in TASK_OPTIONS if options.get(name) is not None}


def backend_kind(alias: str | None) -> Literal["immediate", "dummy"] | None:
    """Whether ``alias`` names Django's Immediate or Dummy backend (by class name).

    Both ship with Django 6.x and with the backport; a project's subclass of
    either counts too, since it inherits the behaviour.
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
    """A module-level function that only exists to ask a backend about options."""


@cache
def _probe_task() -> Any:
    module = tasks_module()
    assert module is not None
    return module.task(probe)


def refused_options(options: Mapping[str, Any]) -> Exception | None:
    """The backend's own objection to an entry's task options, or ``None``.

    ``Task.using()`` asks the backend to validate the task, so a queue it does
    not serve or a priority out of its range shows here, at start-up, rather
    than as a failed enqueue on every event.
    """
    chosen = chosen_options(options)
    if not chosen:
        return None
    try:
        _probe_task().using(**chosen)
    except Exception as exc:
        return exc
    return None
