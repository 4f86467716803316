"""The AppConfig: build the registry once, register checks, wire settings."""

from __future__ import annotations

import sys
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from regstack_django.conf import INSTANCE_SETTINGS, SETTINGS
from regstack_django.registry import HookRegistry


class RegstackDjangoConfig(AppConfig):
    name = "regstack_django"
    verbose_name = "regstack bridge"

    registry: HookRegistry

    def ready(self) -> None:
        """Safe to run more than once: nothing is built or connected twice."""
        from regstack_django.auth import receivers
        from regstack_django.checks.registered import (
            check_context_settings,
            check_hooks_setting,
            check_opentelemetry_setting,
            check_pool_settings,
            check_receivers,
            check_regstack_settings,
            check_seconds_settings,
            check_users_setting,
        )

        if not hasattr(self, "registry"):
            self.registry = HookRegistry()
        checks.register(check_hooks_setting)
        checks.register(check_regstack_settings)
        checks.register(check_receivers)
        checks.register(check_seconds_settings)
        checks.register(check_pool_settings)
        checks.register(check_context_settings)
        checks.register(check_opentelemetry_setting)
        checks.register(check_users_setting)
        receivers.connect()
        # weak=False: a weak connect adds a finalizer on every call, even a repeat.
        setting_changed.connect(_rewire, weak=False, dispatch_uid="regstack_django.rewire")
        from regstack_django.observability import switch

        if _observe_outbox not in switch.when_on:
            switch.when_on.append(_observe_outbox)
        switch.refresh()
        try:
            _connect_settings_handlers()
        except ImproperlyConfigured:
            if not _running_check_command():
                raise
            # 'manage.py check' reports the same problems, with their ids.


#: Commands that report a broken REGSTACK_HOOKS themselves, with check ids.
_REPORTING_COMMANDS = frozenset({"check", "regstack_hooks"})


def _running_check_command() -> bool:
    """Whether this process is 'manage.py check' or 'manage.py regstack_hooks'."""
    return len(sys.argv) > 1 and sys.argv[1] in _REPORTING_COMMANDS


def _observe_outbox() -> None:
    """Register the outbox gauges (once) when tracing is on."""
    from regstack_django.observability import meters

    meters.observe_outbox()


def _rewire(*, setting: str, **kwargs: Any) -> None:
    if setting in INSTANCE_SETTINGS:
        from regstack_django.hosting import instance

        instance.reset()
    if setting in SETTINGS:
        _connect_settings_handlers()
    from regstack_django.auth import receivers

    if setting in receivers.WATCHED_SETTINGS:
        receivers.connect()


def _connect_settings_handlers() -> None:
    """Connect ``REGSTACK_HOOKS``; refuse its errors and the pool settings' in one message."""
    from regstack_django.checks.registered import check_pool_settings, settings_errors
    from regstack_django.hooks import wiring

    bad_pool = bool(check_pool_settings())
    try:
        wiring.connect_settings_handlers()
    except ImproperlyConfigured:
        if not bad_pool:
            raise
    if bad_pool:
        raise ImproperlyConfigured(wiring.invalid_settings_message(settings_errors()))
