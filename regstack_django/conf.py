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
CONFIG_SETTING = "REGSTACK"
INSTANCE_SETTING = "REGSTACK_INSTANCE"

#: Every setting this app reads; the README documents each one.
SETTINGS = (HOOKS_SETTING, RAISE_ERRORS_SETTING, CONFIG_SETTING, INSTANCE_SETTING)

#: Settings the one configured RegStack is built from (its cache resets when one changes).
INSTANCE_SETTINGS = frozenset({CONFIG_SETTING, INSTANCE_SETTING, "DATABASES", "BASE_DIR"})


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

    @property
    def REGSTACK(self) -> Any:  # noqa: N802
        """Fields of regstack's ``RegStackConfig``; default ``None`` (not configured).

        ``Any`` because :mod:`regstack_django.instance` validates it (with regstack's own
        ``RegStackConfig``) and reports every problem.
        """
        return getattr(settings, CONFIG_SETTING, None)

    @property
    def REGSTACK_INSTANCE(self) -> Any:  # noqa: N802
        """Dotted path to a ``RegStack`` or a zero-argument callable; default ``None``."""
        return getattr(settings, INSTANCE_SETTING, None)

    @property
    def regstack_configured(self) -> bool:
        """Whether the project asks this app to build its RegStack: either setting is not ``None``.

        ``REGSTACK = {}`` counts: regstack's own configuration (its TOML file and
        environment variables), nothing overridden.
        """
        return self.REGSTACK is not None or self.REGSTACK_INSTANCE is not None


conf = Settings()
