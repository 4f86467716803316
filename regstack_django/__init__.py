"""Bridge regstack's auth events into Django signals.

Add ``"regstack_django"`` to ``INSTALLED_APPS``, configure regstack in
settings (``REGSTACK = {...}``, or ``REGSTACK_INSTANCE``), connect receivers
to :mod:`regstack_django.signals` (or name them in ``REGSTACK_HOOKS``), and
serve ``regstack_django.asgi.get_asgi_application()``: :func:`get_regstack`
builds the one ``regstack.RegStack`` and attaches it. ``attach()`` remains for
instances the project builds and serves by itself.
"""

from __future__ import annotations

from regstack_django.events import KNOWN_EVENTS
from regstack_django.hooks.bridge import attach
from regstack_django.hosting.instance import get_regstack
from regstack_django.registry import HookRegistry

__all__ = ["KNOWN_EVENTS", "HookRegistry", "attach", "get_registry", "get_regstack"]
__version__ = "0.1.0"


def get_registry() -> HookRegistry:
    """The registry the AppConfig built at start-up (``sender`` is itself)."""
    from regstack_django.installed import app_config

    registry: HookRegistry = app_config("get_registry()").registry  # type: ignore[attr-defined]
    return registry
