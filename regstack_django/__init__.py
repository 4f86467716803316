"""Bridge regstack's auth events into Django signals.

Add ``"regstack_django"`` to ``INSTALLED_APPS``, connect receivers to
:mod:`regstack_django.signals` (or name them in ``REGSTACK_HOOKS``), and
``attach()`` your ``regstack.RegStack``.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from regstack_django.bridge import attach
from regstack_django.events import KNOWN_EVENTS
from regstack_django.registry import HookRegistry

__all__ = ["KNOWN_EVENTS", "HookRegistry", "attach", "get_registry"]
__version__ = "0.1.0"


def get_registry() -> HookRegistry:
    """The registry the AppConfig built at start-up (``sender`` is itself)."""
    from django.apps import apps

    try:
        config = apps.get_app_config("regstack_django")
    except LookupError:
        raise ImproperlyConfigured(
            "regstack_django.get_registry() needs 'regstack_django' in INSTALLED_APPS."
        ) from None
    registry: HookRegistry = config.registry  # type: ignore[attr-defined]
    return registry
