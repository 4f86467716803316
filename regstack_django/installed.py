"""The one error every entry point gives when the app is not in ``INSTALLED_APPS``.

``get_registry()``, ``get_regstack()`` and ``attach()`` all depend on what the
app does at start-up (``REGSTACK_HOOKS``, the checks), so each says the same
thing when it is missing. This lives apart from :mod:`regstack_django.apps` so
that the modules the AppConfig itself imports can use it without a cycle.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

APP_LABEL = "regstack_django"


def app_config(caller: str) -> AppConfig:
    """This app's config; a clear error naming ``caller`` when the app is not installed."""
    from django.apps import apps

    try:
        return apps.get_app_config(APP_LABEL)
    except LookupError:
        raise ImproperlyConfigured(
            f"regstack_django.{caller} needs 'regstack_django' in INSTALLED_APPS."
        ) from None
