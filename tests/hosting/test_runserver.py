"""``manage.py runserver`` serves regstack and Django together, for real.

A throw-away project (regstack configured in settings, ``regstack_django``
before staticfiles) is started with ``manage.py runserver`` on a free port of
127.0.0.1, in a subprocess of its own process group that teardown always
kills: with ``--noreload`` and with the auto-reloader, one started after the other
(two schema installs on one fresh database would race). ``--noasgi`` and a project without
regstack are told apart in-process, where Django's own server is stubbed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from django.core.management import call_command

from support.net import free_port
from tests.instances import JWT_SECRET

pytestmark = pytest.mark.slow

SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "runserver-test"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = [
    "regstack_django",
    "django.contrib.staticfiles",
    "django.contrib.contenttypes",
    "django.contrib.auth",
]
ROOT_URLCONF = "mysite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
REGSTACK = {
    "jwt_secret": "runserver-test-jwt-secret-0123456789abcdef",
    "require_verification": False,
}
"""

URLS = """
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("hello/", lambda request: HttpResponse("hello from django"))]
"""

MANAGE = """
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runserver_project")
    (root / "mysite").mkdir()
    (root / "static").mkdir()
    (root / "mysite" / "__init__.py").write_text("")
    (root / "mysite" / "settings.py").write_text(textwrap.dedent(SETTINGS))
    (root / "mysite" / "urls.py").write_text(textwrap.dedent(URLS))
    (root / "manage.py").write_text(textwrap.dedent(MANAGE))
    (root / "static" / "site.css").write_text("body { color: teal }")
    return root


class Server:
    def __init__(self, project: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project / f"runserver-{self.port}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", *options],
                cwd=project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"runserver exited {self.process.returncode}:\n{self.output()}")
            try:
                httpx.get(f"{self.url}/hello/", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        pytest.fail(f"runserver did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture(scope="module")
def servers(project: Path) -> Iterator[dict[str, Server]]:
    # One after the other: two servers installing regstack's schema on a fresh
    # database at once race in alembic (docs/hosting.md says so for workers).
    started: dict[str, Server] = {}
    try:
        for name, options in (("asgi", ("--noreload",)), ("reload", ())):
            started[name] = Server(project, *options)
            started[name].wait_until_up()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.mark.parametrize("name", ["asgi", "reload"])
def test_runserver_answers_regstack_and_django_and_static_files(
    servers: dict[str, Server], name: str
) -> None:
    server = servers[name]
    url = server.url
    assert httpx.get(f"{url}/api/auth/docs").status_code == 200
    email = f"{name}@example.com"
    registered = httpx.post(
        f"{url}/api/auth/register", json={"email": email, "password": "a-long-password-1"}
    )
    assert registered.status_code == 201, registered.text
    assert httpx.get(f"{url}/hello/").text == "hello from django"
    assert httpx.get(f"{url}/static/site.css").text == "body { color: teal }"
    output = server.output()
    assert f"Starting ASGI development server at {url}/ (uvicorn)" in output
    assert f"regstack: routes under {url}/api/auth, API docs at {url}/api/auth/docs" in output
    assert "System check identified no issues" in output


def test_the_regstack_database_is_next_to_django_s(
    project: Path, servers: dict[str, Server]
) -> None:
    assert (project / "regstack.sqlite3").is_file()


@pytest.mark.parametrize(
    ("options", "regstack", "served_by"),
    [
        (["--noasgi"], {"jwt_secret": JWT_SECRET}, "wsgi"),
        ([], None, "wsgi"),
        ([], {"jwt_secret": JWT_SECRET}, "asgi"),
    ],
    ids=["noasgi", "regstack-not-configured", "configured"],
)
def test_which_server_runserver_starts(
    settings: Any, options: list[str], regstack: Any, served_by: str
) -> None:
    from regstack_django.management.commands import runserver

    # The suite's own REGSTACK under the case's (its database_url on the PostgreSQL leg).
    settings.REGSTACK = regstack and {**settings.REGSTACK, **regstack}
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    with (
        mock.patch("django.core.management.commands.runserver.run") as wsgi,
        mock.patch.object(runserver.Command, "_serve") as asgi,
        mock.patch.object(runserver.Command, "check_migrations"),
    ):
        call_command("runserver", "127.0.0.1:0", "--noreload", "--skip-checks", *options)
    assert (wsgi.called, asgi.called) == (served_by == "wsgi", served_by == "asgi")
