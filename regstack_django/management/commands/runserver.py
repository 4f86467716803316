"""``manage.py runserver`` that serves regstack too: the ASGI site under uvicorn.

Django's WSGI runserver answers 404 on every regstack route; docs/hosting.md.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string

from regstack_django.conf import conf

if apps.is_installed("django.contrib.staticfiles"):
    from django.contrib.staticfiles.management.commands.runserver import (
        Command as RunserverCommand,
    )
else:
    from django.core.management.commands.runserver import (  # type: ignore[assignment]
        Command as RunserverCommand,
    )


class Command(RunserverCommand):
    addr: str  # set by Django's handle(), like port and _raw_ipv6
    port: str
    _raw_ipv6: bool
    help = (
        "Starts a development server: regstack's routes and Django together (ASGI, "
        "uvicorn) when regstack is configured, else Django's own."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--noasgi",
            action="store_false",
            dest="use_asgi",
            help="Serve Django only, over WSGI, as Django's own runserver does.",
        )

    def inner_run(self, *args: Any, **options: Any) -> None:
        if not (options.get("use_asgi", True) and conf.regstack_configured):
            super().inner_run(*args, **options)
            return
        from django.db import connections
        from django.utils import autoreload

        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            # Every check, as Django's own inner_run does (its get_check_kwargs skips them
            # before the reloader starts).
            check_kwargs: Any = BaseCommand.get_check_kwargs(self, options)
            self.check(display_num_errors=True, **check_kwargs)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()
        self._serve(self._application(options))

    def _application(self, options: dict[str, Any]) -> Any:
        from django.conf import settings

        path = getattr(settings, "ASGI_APPLICATION", None)
        if path:
            return import_string(path)
        from regstack_django.asgi import get_asgi_application

        static = options.get("use_static_handler", False) and (
            settings.DEBUG or options.get("insecure_serving", False)
        )
        return get_asgi_application(static=static)

    def announce(self, port: int) -> None:
        """Write Django's start-up banner, saying what is served where (regstack's docs too)."""
        from django.conf import settings

        from regstack_django import get_regstack

        addr = self.addr
        if self._raw_ipv6:
            addr = f"[{addr}]"
        elif addr == "0":
            addr = "0.0.0.0"
        url = f"{self.protocol}://{addr}:{port}"
        prefix = get_regstack().config.api_prefix
        now = datetime.now().strftime("%B %d, %Y - %X")
        self.stdout.write(
            f"{now}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting ASGI development server at {url}/ (uvicorn)\n"
            f"regstack: routes under {url}{prefix}, API docs at {url}{prefix}/docs\n"
            "Quit the server with CONTROL-C.\n"
        )
        self.stdout.write(
            self.style.WARNING(
                "WARNING: This is a development server. Do not use it in a production "
                "setting. Use a production ASGI server (uvicorn, daphne, hypercorn) instead."
            )
        )

    def _serve(self, application: Any) -> None:
        import uvicorn

        command = self

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                if self.started and self.servers and self.servers[0].sockets:
                    command.announce(self.servers[0].sockets[0].getsockname()[1])

        server = Server(
            uvicorn.Config(
                application,
                host=self.addr,
                port=int(self.port),
                lifespan="on",
                log_level="info",
            )
        )
        try:
            server.run()
        except KeyboardInterrupt:
            return
        if not server.started:
            # uvicorn logged why (port in use, failed lifespan); sys.exit cannot
            # stop the process from the reloader's thread.
            os._exit(1)
