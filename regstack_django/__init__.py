"""Bridge regstack's auth events into Django signals (docs/quickstart.md)."""

from __future__ import annotations

from regstack_django.context import EventContext
from regstack_django.events import KNOWN_EVENTS
from regstack_django.hooks.bridge import attach
from regstack_django.hosting.instance import get_regstack
from regstack_django.registry import HookRegistry

__all__ = ["KNOWN_EVENTS", "EventContext", "HookRegistry", "attach", "get_registry", "get_regstack"]
__version__ = "0.1.0"


def get_registry() -> HookRegistry:
    """Return the registry the AppConfig built at start-up (its ``sender`` is itself)."""
    from regstack_django.installed import app_config

    registry: HookRegistry = app_config("get_registry()").registry  # type: ignore[attr-defined]
    return registry
