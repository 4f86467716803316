"""``manage.py regstack_demo``: serve Django + regstack, fire all 20 events, show what Django saw.

The tour shares this process and event loop: it reads regstack's in-memory outboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from regstack_django import KNOWN_EVENTS
from testproject.audit.models import AuditEvent

if TYPE_CHECKING:
    from datetime import datetime

WELCOME_HANDLER = "testproject.audit.hooks.send_welcome_email"
WORKER_WAIT_SECONDS = 15.0
STARTUP_TIMEOUT_SECONDS = 30.0
FAILED_SIGN_INS = 3
AUDIT_DASHBOARD = "/admin/regstack_audit/authevent/dashboard/"


class Command(BaseCommand):
    help = (
        "Serve Django and regstack together, drive regstack over HTTP so that all 20 of "
        "its events fire, and print each event as the Django side recorded it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="Port on 127.0.0.1 (0: any free port)."
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--serve",
            action="store_true",
            help="Keep serving after the tour until Ctrl-C (the default on a terminal).",
        )
        mode.add_argument(
            "--tour-only",
            action="store_true",
            help="Stop the server and the worker after the tour, even on a terminal.",
        )
        parser.add_argument(
            "--email",
            help="The tour's main address (default: a fresh demo+<timestamp>@example.com).",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not start 'manage.py db_worker' (the welcome e-mail stays queued).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._require_migrations()
        serve = options["serve"] or (sys.stdin.isatty() and not options["tour_only"])
        email = options["email"] or f"demo+{time.strftime('%Y%m%d-%H%M%S')}@example.com"
        try:
            asyncio.run(self._main(options["port"], email, serve, not options["no_worker"]))
        except KeyboardInterrupt:
            self.stdout.write("\nStopped.")
        except SystemExit as exc:  # uvicorn exits when the app's lifespan fails
            raise CommandError(
                f"The server stopped during start-up (exit code {exc.code})."
            ) from None

    def _require_migrations(self) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database has unapplied migrations: run 'python manage.py migrate' first."
            )

    async def _main(self, port: int, email: str, serve: bool, with_worker: bool) -> None:
        import httpx
        import uvicorn

        from regstack_django import get_regstack
        from support.tour.steps import run_tour
        from testproject.asgi import application

        sock = _bind(port)
        port = sock.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        server = uvicorn.Server(uvicorn.Config(application, lifespan="on", log_level="warning"))
        server_task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
        worker: asyncio.subprocess.Process | None = None
        relay: asyncio.Task[None] | None = None
        delivered = True
        try:
            await _wait_started(server, server_task)
            prefix = get_regstack().config.api_prefix
            self.stdout.write(
                f"Serving Django + regstack at {base}/ (regstack API under {prefix}/, "
                f"its docs at {base}{prefix}/docs)"
            )
            if with_worker:
                worker, relay = await self._start_worker()
            since_id = await _last_event_id()
            tour_started = timezone.now()
            self.stdout.write(self.style.MIGRATE_HEADING(f"\nTour as {email}:"))
            try:
                async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                    await run_tour(client, get_regstack(), email=email, say=self._say)
                    await self._fail_sign_ins(client, prefix, email)
            except (AssertionError, httpx.HTTPError) as exc:
                raise CommandError(f"The tour stopped: {exc}") from exc
            await self._print_events(since_id)
            await self._print_audit_log(tour_started, base)
            if with_worker:
                delivered = await self._report_welcome_email(tour_started)
            if serve:
                self._print_urls(base)
                await server_task  # until Ctrl-C (or SIGTERM) stops uvicorn
                self.stdout.write("\nStopped.")
            else:
                self.stdout.write(
                    "\nTour finished; stopping the server and the worker. To browse the audit "
                    "page and the admin, run 'bash scripts/demo --serve'."
                )
        finally:
            server.should_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(server_task), timeout=10)
            if worker is not None:
                await _stop(worker)
            if relay is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(relay, timeout=5)
        if not delivered:
            raise CommandError("The tour ran, but the background welcome e-mail was not delivered.")

    def _say(self, line: str) -> None:
        self.stdout.write(f"  {line}")

    async def _start_worker(self) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
        """``manage.py db_worker`` in its own session (Ctrl-C here must not hit it twice)."""
        manage = Path(settings.BASE_DIR) / "manage.py"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            str(manage),
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.2",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.stdout.write(f"Started the Tasks worker (manage.py db_worker, pid {worker.pid}).")
        return worker, asyncio.create_task(self._relay(worker), name="worker-output")

    async def _relay(self, worker: asyncio.subprocess.Process) -> None:
        """Show the worker's output (its console e-mail backend prints there), prefixed."""
        assert worker.stdout is not None
        async for raw in worker.stdout:
            self.stdout.write(f"  worker | {raw.decode(errors='replace').rstrip()}")

    async def _print_events(self, since_id: int) -> None:
        rows = await _events_after(since_id)
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"\nWhat the Django side recorded ({len(rows)} AuditEvent rows):"
            )
        )
        for row in rows:
            details = " ".join(f"{key}={value}" for key, value in row.details.items())
            self.stdout.write(
                f"  {row.created_at:%H:%M:%S.%f}"[:-3]
                + f"  {row.event:<24} {row.email or '-':<44} {details}".rstrip()
            )
        counted = {row.event for row in rows} & KNOWN_EVENTS
        self.stdout.write(f"  {len(counted)} of regstack's {len(KNOWN_EVENTS)} events recorded.")

    async def _fail_sign_ins(self, client: Any, prefix: str, email: str) -> None:
        """Three wrong passwords: ``login_failed`` for the audit log (its dashboard shows them)."""
        for _ in range(FAILED_SIGN_INS):
            response = await client.post(
                f"{prefix}/login", json={"email": email, "password": "not-the-password-1"}
            )
            if response.status_code != 401:
                raise AssertionError(f"a wrong password answered {response.status_code}")
        self._say(f"{FAILED_SIGN_INS} sign-ins with a wrong password: 401 each (login_failed)")

    async def _print_audit_log(self, since: datetime, base: str) -> None:
        """What ``regstack_django.audit`` stored, and where its dashboard is."""
        from regstack_django.audit.models import AuthEvent
        from regstack_django.audit.writer import flush

        await sync_to_async(flush, thread_sensitive=False)()
        rows = AuthEvent.objects.filter(created_at__gte=since)
        total = await rows.acount()
        failed = await rows.filter(event="login_failed").acount()
        self.stdout.write(
            self.style.MIGRATE_HEADING("\nThe audit log (regstack_django.audit):")
            + f"\n  {total} AuthEvent rows, {failed} of them failed sign-ins; dashboard: "
            + f"{base}{AUDIT_DASHBOARD}"
        )

    async def _report_welcome_email(self, since: datetime) -> bool:
        """Wait (bounded) for the worker to run the welcome e-mail task; say how it went."""
        deadline = time.monotonic() + WORKER_WAIT_SECONDS
        status = await _welcome_task_status(since)
        while status not in {"SUCCESSFUL", "FAILED"} and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            status = await _welcome_task_status(since)
        if status == "SUCCESSFUL":
            self.stdout.write(
                self.style.SUCCESS(
                    "\nThe Tasks worker delivered the welcome e-mail (background handler "
                    f"{WELCOME_HANDLER} on user_verified): task SUCCESSFUL."
                )
            )
            return True
        if status is None:
            problem = "No welcome e-mail task was enqueued (see the errors above)."
        elif status == "FAILED":
            problem = "The welcome e-mail task FAILED in the worker (see its output above)."
        else:
            problem = f"The welcome e-mail task is still {status} after {WORKER_WAIT_SECONDS:g}s."
        self.stderr.write(self.style.ERROR(f"\n{problem}"))
        return False

    def _print_urls(self, base: str) -> None:
        from regstack_django import get_regstack

        prefix = get_regstack().config.api_prefix
        self.stdout.write(
            self.style.MIGRATE_HEADING("\nStill serving; press Ctrl-C to stop.")
            + f"\n  audit page:    {base}/"
            + f"\n  Django admin:  {base}/admin/"
            + f"\n  audit log:     {base}{AUDIT_DASHBOARD}"
            + f"\n  regstack docs: {base}{prefix}/docs (the API, e.g. POST {base}{prefix}/register)"
        )


def _bind(port: int) -> socket.socket:
    """Listen on 127.0.0.1:``port`` ourselves, so ``--port 0`` learns its port race-free."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise CommandError(
            f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}); try --port 0 for a free port."
        ) from None
    sock.set_inheritable(True)
    return sock


async def _wait_started(server: Any, server_task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if server_task.done():
            server_task.result()  # re-raises why it stopped
            raise CommandError("The server stopped before it started serving.")
        if time.monotonic() > deadline:
            raise CommandError(f"The server did not start within {STARTUP_TIMEOUT_SECONDS:g}s.")
        await asyncio.sleep(0.05)


async def _stop(worker: asyncio.subprocess.Process) -> None:
    """SIGTERM (the worker finishes its current task), then wait; kill if it hangs."""
    if worker.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.wait(), timeout=10)
        except TimeoutError:
            worker.kill()
            await worker.wait()


@sync_to_async
def _last_event_id() -> int:
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


@sync_to_async
def _events_after(since_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=since_id).order_by("id"))


@sync_to_async
def _welcome_task_status(since: datetime) -> str | None:
    from django_tasks_db.models import DBTaskResult

    from regstack_django.envelope import UntrustedMessage, open_envelope

    # Each task carries one signed message naming its handler: open it to find ours.
    rows = (
        DBTaskResult.objects.filter(enqueued_at__gte=since - timedelta(seconds=1))
        .order_by("-enqueued_at")
        .values_list("status", "args_kwargs")
    )
    for status, args_kwargs in rows:
        try:
            handler = open_envelope(args_kwargs["args"][0])[0]
        except (UntrustedMessage, KeyError, IndexError, TypeError):
            continue
        if handler == WELCOME_HANDLER:
            return str(status)
    return None
