"""Whether fires are traced: the one flag the hot path reads, set when the app is ready.

Off, a fire pays one attribute check; on, :mod:`.tracing` (it imports OpenTelemetry) works.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed

from regstack_django.conf import OPENTELEMETRY_SETTING, conf

#: True when ``REGSTACK_OPENTELEMETRY`` is True and OpenTelemetry's API is installed.
on = False

#: Called each time tracing is turned on (the app adds the outbox gauges' registration).
when_on: list[Callable[[], None]] = []


def installed() -> bool:
    """Return whether OpenTelemetry's API can be imported."""
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:  # no "opentelemetry" package at all
        return False


def refresh() -> None:
    """Set :data:`on` from the setting (the app's ``ready()`` and ``setting_changed`` call it)."""
    global on
    wanted = conf.REGSTACK_OPENTELEMETRY is True and installed()
    if wanted:
        for call in when_on:
            call()
    on = wanted


def _changed(*, setting: str, **kwargs: Any) -> None:
    if setting == OPENTELEMETRY_SETTING:
        refresh()


setting_changed.connect(_changed, weak=False, dispatch_uid="regstack_django.observability")
