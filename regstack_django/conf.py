"""Live, typed access to this app's settings.

Read through ``conf`` at the moment a value is needed, never copied at import
time, so ``override_settings`` works. The one expensive derivation (importing
the handlers named in ``REGSTACK_HOOKS``) is redone by the ``setting_changed``
receiver in :mod:`regstack_django.apps`, not on every fire.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings

HOOKS_SETTING = "REGSTACK_HOOKS"
RAISE_ERRORS_SETTING = "REGSTACK_HOOKS_RAISE_ERRORS"
WORKERS_SETTING = "REGSTACK_HOOKS_WORKERS"
WORKER_WAIT_SETTING = "REGSTACK_HOOKS_WORKER_WAIT"
CONFIG_SETTING = "REGSTACK"
INSTANCE_SETTING = "REGSTACK_INSTANCE"

#: Settings the one configured RegStack is built from (its cache resets when one changes).
INSTANCE_SETTINGS = frozenset({CONFIG_SETTING, INSTANCE_SETTING, "DATABASES", "BASE_DIR"})
ENQUEUE_TIMEOUT_SETTING = "REGSTACK_HOOKS_ENQUEUE_TIMEOUT"
OUTBOX_LEASE_SETTING = "REGSTACK_OUTBOX_LEASE"
OUTBOX_POLL_INTERVAL_SETTING = "REGSTACK_OUTBOX_POLL_INTERVAL"
OUTBOX_BACKOFF_SETTING = "REGSTACK_OUTBOX_BACKOFF"
OUTBOX_BACKOFF_MAX_SETTING = "REGSTACK_OUTBOX_BACKOFF_MAX"
OUTBOX_RETENTION_SETTING = "REGSTACK_OUTBOX_RETENTION"
OUTBOX_STALE_AFTER_SETTING = "REGSTACK_OUTBOX_STALE_AFTER"
OUTBOX_MAX_ATTEMPTS_SETTING = "REGSTACK_OUTBOX_MAX_ATTEMPTS"
MESSAGE_MAX_AGE_SETTING = "REGSTACK_MESSAGE_MAX_AGE"
AUDIT_RETENTION_SETTING = "REGSTACK_AUDIT_RETENTION"

#: Days the audit app keeps an ``AuthEvent`` (``regstack_audit_prune``), and the largest (E060).
DEFAULT_AUDIT_RETENTION = 90
MAX_AUDIT_RETENTION = 36_500
TRUSTED_PROXIES_SETTING = "REGSTACK_TRUSTED_PROXIES"
REQUEST_ID_HEADER_SETTING = "REGSTACK_REQUEST_ID_HEADER"
#: Request-context settings (:mod:`regstack_django.hosting.request` parses them, E045/E046).
CONTEXT_SETTINGS = frozenset({TRUSTED_PROXIES_SETTING, REQUEST_ID_HEADER_SETTING})
DEFAULT_REQUEST_ID_HEADER = "X-Request-ID"
OPENTELEMETRY_SETTING = "REGSTACK_OPENTELEMETRY"
#: Parsed and validated by :mod:`regstack_django.auth.rules` (E040, E041).
USERS_SETTING = "REGSTACK_DJANGO_USERS"

#: Failed runs of a durable handler before its row is dead, and the largest accepted (E030).
DEFAULT_MAX_ATTEMPTS = 20
MAX_MAX_ATTEMPTS = 10_000

#: The pool settings' defaults, and the largest pool (E020/E021 report invalid values).
DEFAULT_WORKERS = 20
MAX_WORKERS = 1024
DEFAULT_WORKER_WAIT = 3.0

#: Seconds settings: name -> (default, largest accepted value). Checked by
#: :mod:`regstack_django.checks.registered` (E023 for the enqueue budget, E024 for
#: the outbox, E032 for the message age), so a typo shows at start-up, not on the first event.
SECONDS_SETTINGS: dict[str, tuple[float, float]] = {
    ENQUEUE_TIMEOUT_SETTING: (2.0, 3600.0),
    OUTBOX_LEASE_SETTING: (300.0, 7 * 86400.0),
    OUTBOX_POLL_INTERVAL_SETTING: (1.0, 3600.0),
    OUTBOX_BACKOFF_SETTING: (1.0, 86400.0),
    OUTBOX_BACKOFF_MAX_SETTING: (300.0, 7 * 86400.0),
    OUTBOX_RETENTION_SETTING: (7 * 86400.0, 3650 * 86400.0),
    OUTBOX_STALE_AFTER_SETTING: (300.0, 7 * 86400.0),
    MESSAGE_MAX_AGE_SETTING: (3 * 86400.0, 365 * 86400.0),
}

#: Every setting this app reads; docs/settings.md documents each one.
SETTINGS = (
    HOOKS_SETTING,
    RAISE_ERRORS_SETTING,
    CONFIG_SETTING,
    INSTANCE_SETTING,
    WORKERS_SETTING,
    WORKER_WAIT_SETTING,
    *SECONDS_SETTINGS,
    OUTBOX_MAX_ATTEMPTS_SETTING,
    AUDIT_RETENTION_SETTING,
    TRUSTED_PROXIES_SETTING,
    REQUEST_ID_HEADER_SETTING,
    OPENTELEMETRY_SETTING,
    USERS_SETTING,
)


class Settings:
    """The app's settings with their defaults; attributes read ``django.conf.settings``."""

    @property
    def REGSTACK_HOOKS(self) -> Any:  # noqa: N802 - named after the setting
        """``{event: [dotted path | {"handler": path, **options}]}``; default ``{}``.

        Typed ``Any`` because it is user input: :mod:`regstack_django.hooks.entries`
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

        ``Any`` because :mod:`regstack_django.hosting.instance` validates it (with regstack's own
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

    @property
    def REGSTACK_HOOKS_WORKERS(self) -> Any:  # noqa: N802
        """Worker threads for sync receivers fired outside a Django request; default 20.

        Read when the pool is built (and rebuilt after ``setting_changed``), never per fire.
        """
        return getattr(settings, WORKERS_SETTING, DEFAULT_WORKERS)

    @property
    def REGSTACK_HOOKS_WORKER_WAIT(self) -> Any:  # noqa: N802
        """Seconds a fire waits for a free worker before failing its receivers; default 3."""
        return getattr(settings, WORKER_WAIT_SETTING, DEFAULT_WORKER_WAIT)

    @property
    def REGSTACK_OPENTELEMETRY(self) -> Any:  # noqa: N802
        """Spans and metrics through OpenTelemetry's API (extra ``otel``); default ``False``.

        Read when the app is ready and when the setting changes, never per fire.
        """
        return getattr(settings, OPENTELEMETRY_SETTING, False)

    def pool_size(self) -> int:
        """Return ``REGSTACK_HOOKS_WORKERS``, or its default when invalid (E020 reports it)."""
        value = self.REGSTACK_HOOKS_WORKERS
        return value if valid_workers(value) else DEFAULT_WORKERS

    def pool_wait(self) -> float:
        """Return ``REGSTACK_HOOKS_WORKER_WAIT``, or its default when invalid (E021 reports it)."""
        value = self.REGSTACK_HOOKS_WORKER_WAIT
        return float(value) if valid_worker_wait(value) else DEFAULT_WORKER_WAIT

    @property
    def REGSTACK_TRUSTED_PROXIES(self) -> Any:  # noqa: N802
        """Proxy addresses or networks whose ``X-Forwarded-For`` is believed; default none."""
        return getattr(settings, TRUSTED_PROXIES_SETTING, ())

    @property
    def REGSTACK_REQUEST_ID_HEADER(self) -> Any:  # noqa: N802
        """The header a request id is read from and echoed on; default ``X-Request-ID``."""
        return getattr(settings, REQUEST_ID_HEADER_SETTING, DEFAULT_REQUEST_ID_HEADER)

    def max_attempts(self) -> int:
        """Return ``REGSTACK_OUTBOX_MAX_ATTEMPTS``, or its default when invalid (E030)."""
        value = getattr(settings, OUTBOX_MAX_ATTEMPTS_SETTING, DEFAULT_MAX_ATTEMPTS)
        return value if valid_max_attempts(value) else DEFAULT_MAX_ATTEMPTS

    def audit_retention(self) -> int | None:
        """Return ``REGSTACK_AUDIT_RETENTION`` in days (``None``: keep forever), or its default."""
        value = getattr(settings, AUDIT_RETENTION_SETTING, DEFAULT_AUDIT_RETENTION)
        return value if valid_audit_retention(value) else DEFAULT_AUDIT_RETENTION

    def seconds(self, name: str) -> float:
        """One of :data:`SECONDS_SETTINGS`, or its default when unset or invalid.

        An invalid value is reported by the system checks; here it falls back
        to the default so a running process never fails on it.
        """
        default, maximum = SECONDS_SETTINGS[name]
        value = getattr(settings, name, default)
        return float(value) if valid_seconds(value, maximum) else default


def valid_seconds(value: object, maximum: float) -> bool:
    """A finite number of seconds in ``(0, maximum]`` (``bool`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return 0 < float(value) <= maximum
    except OverflowError:  # an int too large for a float: 10**400
        return False


def valid_workers(value: object) -> bool:
    """Whether ``value`` is a whole number of workers from 1 to :data:`MAX_WORKERS`."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKERS


def valid_max_attempts(value: object) -> bool:
    """Whether ``value`` is a whole number of runs from 1 to :data:`MAX_MAX_ATTEMPTS`."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_MAX_ATTEMPTS


def valid_audit_retention(value: object) -> bool:
    """Whether ``value`` is ``None`` or whole days from 1 to :data:`MAX_AUDIT_RETENTION`."""
    if value is None:
        return True
    return (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_AUDIT_RETENTION
    )


def valid_worker_wait(value: object) -> bool:
    """Whether ``value`` is a finite number of seconds, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an int too large for a float: 10**400
        return False


conf = Settings()
