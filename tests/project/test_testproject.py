"""The testproject end to end: one tour fires all 20 events, one ``AuditEvent`` row each.

No live-token URL or password hash reaches the database, a log, the audit page or the admin.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient, override_settings

import regstack_django
from regstack_django import KNOWN_EVENTS
from regstack_django.testing import CapturedEvents, capture_events
from support import databases
from support.tour.steps import EXPECTED_COUNTS, run_tour
from testproject.audit.models import AuditEvent
from testproject.instance import UnbridgedHooks, build_regstack

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

pytestmark = pytest.mark.regstack

REPO = Path(__file__).resolve().parents[2]
TOKEN_EVENTS = ("verification_requested", "password_reset_requested", "email_change_requested")
# Two loggers of regstack's own stack hold secrets at DEBUG by design, whatever
# the host does; every other logger (Django, regstack_django, the testproject,
# httpx, regstack's routes) is checked:
# - regstack's console e-mail backend is its dev stand-in for sending mail: it
#   logs each message body (the link with its token) at DEBUG;
# - aiosqlite, regstack's SQLite driver, logs every statement with its
#   parameters at DEBUG, hashed_password and token hashes included.
REGSTACK_OWN_SECRET_LOGGERS = frozenset({"regstack.email.console", "aiosqlite"})


class Secrets:
    """Every token URL and password hash the events of a capture carried."""

    def __init__(self, events: CapturedEvents) -> None:
        self.urls = [e.kwargs["url"] for e in events if "url" in e.kwargs]
        users = [e.kwargs.get("user") for e in events]
        # hashed_password is None for an OAuth-only account
        self.hashes = {u.hashed_password for u in users if u is not None and u.hashed_password}

    def tokens(self) -> list[str]:
        found = []
        for url in self.urls:
            (token,) = parse_qs(urlsplit(url).query)["token"]
            found.append(token)
        return found

    def assert_absent(self, text: str, where: str) -> None:
        assert self.urls, "no token URL was seen: the check would prove nothing"
        for url, token in zip(self.urls, self.tokens(), strict=True):
            assert url not in text, f"a live token URL is in {where}"
            assert token not in text, f"a live token is in {where}"
        for hashed in self.hashes:
            assert hashed not in text, f"a password hash is in {where}"
        assert "$argon2" not in text, f"an argon2 hash is in {where}"


def _logged_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(
        f"{formatter.format(r)}\n{r.__dict__!r}"
        for r in caplog.records
        if r.name not in REGSTACK_OWN_SECRET_LOGGERS
    )


@sync_to_async
def _recorded_rows() -> list[dict[str, Any]]:
    return list(AuditEvent.objects.values())


@sync_to_async
def _queued_payloads() -> list[Any]:
    """Each queued task's signed message, opened: ``(handler, durable, payload)``."""
    from django_tasks_db.models import DBTaskResult

    from regstack_django.envelope import open_envelope

    rows = DBTaskResult.objects.values_list("args_kwargs", flat=True)
    return [open_envelope(args_kwargs["args"][0]) for args_kwargs in rows]


@pytest.mark.django_db(transaction=True)
async def test_tour_records_every_event_exactly_once_and_no_secret(
    regstack_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("regstack_django", "testproject", "regstack", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    rs = regstack_django.get_regstack()  # this test's instance, on its own database
    lines: list[str] = []

    with capture_events() as events:
        result = await run_tour(regstack_client, rs, email="alice@example.com", say=lines.append)
    audit_page = await regstack_client.get("/")
    docs = await regstack_client.get(f"{rs.config.api_prefix}/docs")
    seen_secrets = Secrets(events)

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [f"{r.name}: {r.getMessage()}" for r in failures]
    rows = await _recorded_rows()
    assert set(EXPECTED_COUNTS) == KNOWN_EVENTS
    assert Counter(row["event"] for row in rows) == EXPECTED_COUNTS
    assert {row["sender"] for row in rows} == {"regstack.app.RegStack"}
    verified = next(row for row in rows if row["event"] == "user_verified")
    assert (verified["user_id"], verified["email"]) == (result.main_user_id, "alice@example.com")
    phone = next(row for row in rows if row["event"] == "phone_setup_started")
    assert phone["details"] == {"phone": "+*******0123"}
    assert len(seen_secrets.urls) == 3

    # The background welcome e-mail was queued once, without secrets.
    payloads = await _queued_payloads()
    assert len(payloads) == 1
    assert payloads[0][0] == "testproject.audit.hooks.send_welcome_email"

    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "admin", "admin@example.com", "pw"
    )
    django_client = AsyncClient()
    await django_client.aforce_login(admin)
    changelist = await django_client.get("/admin/audit/auditevent/")
    searched = await django_client.get("/admin/audit/auditevent/", {"q": "alice"})
    filtered = await django_client.get("/admin/audit/auditevent/", {"event": "user_logged_in"})
    for response in (audit_page, docs, changelist, searched, filtered):
        assert response.status_code == 200
    assert "email_change_requested" in audit_page.text
    assert '<a href="/api/auth/docs">' in audit_page.text
    assert "user_logged_in" in changelist.text
    assert "5 audit events" in filtered.text
    deletions = [r for r in caplog.records if r.name == "testproject.audit.receivers"]
    assert len(deletions) == 2  # the async receiver ran for both user_deleted fires

    seen_secrets.assert_absent(repr(rows), "the AuditEvent rows")
    seen_secrets.assert_absent(repr(payloads), "the queued task payload")
    seen_secrets.assert_absent(_logged_text(caplog), "a log record")
    seen_secrets.assert_absent("\n".join(lines), "the tour's output")
    seen_secrets.assert_absent(audit_page.text, "the audit page")
    for response in (changelist, searched, filtered):
        seen_secrets.assert_absent(response.content.decode(), "the admin changelist")


@pytest.mark.django_db(transaction=True)
async def test_each_test_gets_its_own_regstack_database(
    regstack_client: httpx.AsyncClient, regstack_database_url: str
) -> None:
    rs = regstack_django.get_regstack()
    assert rs.config.database_url.get_secret_value() == regstack_database_url
    assert "testproject/var" not in regstack_database_url
    register = await regstack_client.post(
        "/api/auth/register", json={"email": "bob@example.com", "password": "bob-password-1"}
    )
    assert register.status_code == 201, register.text  # bob is new on every run


async def test_the_load_test_baseline_reaches_no_django_signal(tmp_path: Path) -> None:
    with override_settings(TESTPROJECT_ATTACH_BRIDGE=False):
        rs = build_regstack(database_url=f"sqlite+aiosqlite:///{tmp_path / 'rs.db'}")
    assert isinstance(rs.hooks, UnbridgedHooks)
    regstack_django.attach(rs)  # what get_regstack() does with the instance
    seen: list[str] = []
    rs.on("user_logged_in", lambda **kwargs: seen.append("regstack's own"))
    with capture_events() as events:
        await rs.hooks.fire("user_logged_in", user=None)
    assert seen == ["regstack's own"]
    assert events == []


def _manage(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def project_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a fresh demo machine: both SQLite files in tmp_path, or, on the
    PostgreSQL leg, a new pair of databases of its own (dropped afterwards)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REGSTACK_", "TESTPROJECT_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="testproject.settings",
        TESTPROJECT_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    with databases.testproject_site() as database:
        if database:
            env[databases.DATABASE_ENV] = "postgres"
            env[databases.SERVER_ENV] = databases.server()
        yield {**env, **database}


def test_manage_py_check_passes(project_env: dict[str, str]) -> None:
    done = _manage("check", env=project_env)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_settings_need_the_jwt_secret(project_env: dict[str, str]) -> None:
    production = {**project_env, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50}
    done = _manage("check", env=production)
    assert done.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in done.stderr
    assert "REGSTACK_JWT_SECRET is not set" in done.stderr

    configured = {**production, "REGSTACK_JWT_SECRET": "s" * 40, "DJANGO_ALLOWED_HOSTS": "a.test"}
    done = _manage("check", env=configured)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_demo_command_runs_the_tour_end_to_end(project_env: dict[str, str]) -> None:
    migrated = _manage("migrate", "--noinput", env=project_env)
    assert migrated.returncode == 0, migrated.stderr

    done = _manage("regstack_demo", "--tour-only", "--port", "0", env=project_env, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output

    recorded = output.split("What the Django side recorded", 1)[1]
    events = Counter(re.findall(r"^\s+\d\d:\d\d:\d\d\.\d{3}\s+(\w+)", recorded, re.MULTILINE))
    assert events == EXPECTED_COUNTS
    assert "Subject: Welcome to the regstack demo" in output  # the worker's console e-mail
    assert "The Tasks worker delivered the welcome e-mail" in output
    assert "Tour finished; stopping the server and the worker." in output
    assert "run 'bash scripts/demo --serve'" in output  # works outside the demo's venv
    assert re.search(r"its docs at http://127\.0\.0\.1:\d+/api/auth/docs\)", output)
    assert "20 of regstack's 20 events recorded." in output
    total = sum(EXPECTED_COUNTS.values()) + 3  # and three wrong passwords
    assert f"{total} AuthEvent rows, 3 of them failed sign-ins; dashboard: http://" in output
    assert "$argon2" not in output


def test_the_testproject_puts_the_filter_on_every_handler() -> None:
    assert settings.LOGGING["filters"]["secrets"]["()"] == "regstack_django.logging.SecretsFilter"
    for name, handler in settings.LOGGING["handlers"].items():
        assert name == "mailbox" or "secrets" in handler["filters"], name
