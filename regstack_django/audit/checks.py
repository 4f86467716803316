"""The audit app's system check, ``REGSTACK_AUDIT_RETENTION`` (E060), registered by its app."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import (
    AUDIT_RETENTION_SETTING,
    DEFAULT_AUDIT_RETENTION,
    MAX_AUDIT_RETENTION,
    valid_audit_retention,
)


def check_audit_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``REGSTACK_AUDIT_RETENTION`` (E060) when it is not whole days or ``None``."""
    value = getattr(settings, AUDIT_RETENTION_SETTING, DEFAULT_AUDIT_RETENTION)
    if valid_audit_retention(value):
        return []
    return [
        problem(
            messages.E060,
            f"{AUDIT_RETENTION_SETTING} must be whole days or None, not {value!r}.",
            maximum=MAX_AUDIT_RETENTION,
            default=DEFAULT_AUDIT_RETENTION,
        )
    ]
