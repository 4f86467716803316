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
WORKERS_SETTING = "REGSTACK_HOOKS_WORKERS"
WORKER_WAIT_SETTING = "REGSTACK_HOOKS_WORKER_WAIT"

#: Every setting this app reads; the README documents each one.
SETTINGS = (HOOKS_SETTING, RAISE_ERRORS_SETTING, WORKERS_SETTING, WORKER_WAIT_SETTING)


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
    def REGSTACK_HOOKS_WORKERS(self) -> Any:  # noqa: N802
        """Worker threads for sync receivers fired outside a Django request; default 20.

        Read once, when :mod:`regstack_django.pool` builds the pool (and again
        after ``setting_changed``), never per fire.
        """
        return getattr(settings, WORKERS_SETTING, 20)

    @property
    def REGSTACK_HOOKS_WORKER_WAIT(self) -> Any:  # noqa: N802
        """Seconds a fire waits for a free worker before failing its receivers; default 3."""
        return getattr(settings, WORKER_WAIT_SETTING, 3.0)


conf = Settings()
