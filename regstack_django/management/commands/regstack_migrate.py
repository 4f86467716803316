"""``manage.py regstack_migrate``: install or upgrade regstack's schema, before servers start.

The database is the configured RegStack's (``regstack_django.get_regstack()``).
Idempotent, and safe when several copies run at once (see
:mod:`regstack_django.hosting.schema`): run it in a deployment next to
``migrate``. Says what it did; a failure exits with status 1 and the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from regstack_django.hosting import schema


class Command(BaseCommand):
    help = "Install or upgrade regstack's database schema (safe with several copies at once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=schema.LOCK_TIMEOUT,
            help="Seconds to wait for another process's install (default: %(default)s).",
        )

    def handle(self, *args: Any, lock_timeout: float = schema.LOCK_TIMEOUT, **options: Any) -> None:
        from regstack_django import get_regstack

        try:
            regstack = get_regstack()
        except ImproperlyConfigured as exc:
            raise CommandError(f"regstack is not configured: {exc}") from exc
        try:
            installed = asyncio.run(schema.install(regstack, lock_timeout=lock_timeout))
        except schema.SchemaError as exc:
            raise CommandError(str(exc)) from exc
        if installed is None:
            self.stdout.write(
                "regstack schema: installed by the backend's install_schema() "
                f"({type(regstack.backend).__name__}); nothing to lock."
            )
        else:
            self.stdout.write(installed.describe())
