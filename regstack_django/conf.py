"""Live, typed access to this app's settings.

Read through ``conf`` at the moment a value is needed, never copied at import
time, so ``override_settings`` works. The one expensive derivation (importing
the handlers named in ``REGSTACK_HOOKS``) is redone by the ``setting_changed``
receiver in :mod:`regstack_django.apps`, not on every fire.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

HOOKS_SETTING = "REGSTACK_HOOKS"
RAISE_ERRORS_SETTING = "REGSTACK_HOOKS_RAISE_ERRORS"

#: Every setting this app reads; the README documents each one.
SETTINGS = (HOOKS_SETTING, RAISE_ERRORS_SETTING)


class Settings:
    """The app's settings with their defaults; attributes read ``django.conf.settings``."""

    @property
    def REGSTACK_HOOKS(self) -> Any:  # noqa: N802 - named after the setting
        """``{event: [dotted path | {"handler": path, **options}]}``; default ``{}``.

        Typed ``Any`` because it is user input: :mod:`regstack_django.handlers`
        validates its shape and reports every problem.
        """
        return getattr(settings, HOOKS_SETTING, {})

    @property
    def REGSTACK_HOOKS_RAISE_ERRORS(self) -> Any:  # noqa: N802
        """Re-raise receiver failures after a fire (an ``ExceptionGroup``); default ``False``."""
        return getattr(settings, RAISE_ERRORS_SETTING, False)


conf = Settings()
