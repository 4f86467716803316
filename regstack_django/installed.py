"""The one error every entry point gives when ``regstack_django`` is not in ``INSTALLED_APPS``.

Kept out of :mod:`regstack_django.apps` so the modules the AppConfig imports can use it.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

APP_LABEL = "regstack_django"


def app_config(caller: str) -> AppConfig:
    """Return this app's config; raise an error naming ``caller`` when it is not installed."""
    from django.apps import apps

    try:
        return apps.get_app_config(APP_LABEL)
    except LookupError:
        raise ImproperlyConfigured(
            f"regstack_django.{caller} needs 'regstack_django' in INSTALLED_APPS."
        ) from None
