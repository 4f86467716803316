"""A throw-away site for starting many processes at once, and fresh regstack databases for it.

The site (``mysite``: regstack configured in settings, no receivers) reads
regstack's ``database_url`` from ``BOOT_DATABASE_URL``, so every start can
point at a new database. PostgreSQL comes from ``REGSTACK_TEST_POSTGRES`` (a
libpq URL; ``scripts/_postgres.sh`` starts a private cluster and exports it):
without it the PostgreSQL cases skip, and under CI (``CI`` set) they fail.
Databases are created with unique names and dropped afterwards. ``REGSTACK_TEST_BOOT``
picks which parts of the boot and migrate tests run (``runs_here``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
DATABASES = ["sqlite", "postgresql"]
#: The parts of the boot and migrate tests this run takes, comma-separated: ``sqlite`` and
#: ``postgresql`` (many processes at once on that database), ``failures`` (sites on an
#: unreachable database). Unset: every part. ``bash scripts/test`` runs each on one leg only.
PARTS_ENV = "REGSTACK_TEST_BOOT"

SETTINGS = """
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "boot-test"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["regstack_django", "django.contrib.contenttypes", "django.contrib.auth"]
ROOT_URLCONF = "mysite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
REGSTACK = {
    "jwt_secret": "boot-test-jwt-secret-0123456789abcdef",
    "require_verification": False,
    "database_url": os.environ["BOOT_DATABASE_URL"],
}
# What each process's schema install did ("regstack schema: installed ..."), in its log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"regstack_django": {"handlers": ["console"], "level": "INFO"}},
}
"""

FILES = {
    "mysite/__init__.py": "",
    "mysite/settings.py": SETTINGS,
    "mysite/urls.py": "urlpatterns = []\n",
    "mysite/asgi.py": """
        import os

        from regstack_django.asgi import get_asgi_application

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        application = get_asgi_application()
        """,
    "manage.py": """
        import os
        import sys

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
        """,
}

_names = itertools.count()


def write_site(root: Path) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def site_env(database_url: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BOOT_DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def runs_here(part: str) -> None:
    """Skip unless ``REGSTACK_TEST_BOOT`` takes ``part`` (unset takes every part)."""
    chosen = os.environ.get(PARTS_ENV)
    if chosen is not None and part not in {p.strip() for p in chosen.split(",")}:
        pytest.skip(f"{PARTS_ENV}={chosen!r}: the {part} part runs on another leg")


def postgres_server() -> str:
    """``REGSTACK_TEST_POSTGRES``; a skip without it, a failure under CI."""
    url = os.environ.get("REGSTACK_TEST_POSTGRES")
    if not url:
        reason = "REGSTACK_TEST_POSTGRES is not set (scripts/_postgres.sh starts a cluster)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the PostgreSQL cases", pytrace=False)
        pytest.skip(reason)
    return url


def _on_database(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(server: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(server, timeout=30)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A new, empty regstack database URL of ``kind`` (dropped afterwards on PostgreSQL)."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite+aiosqlite:///{folder}/regstack.sqlite3?timeout=30"
        return
    server = postgres_server()
    name = f"regstack_boot_{os.getpid()}_{next(_names)}_{time.monotonic_ns() % 10**6}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        url = _on_database(server, name)
        yield "postgresql+asyncpg://" + url.split("://", 1)[1]
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Process:
    """A command of the site in its own process group, its output in a log file."""

    def __init__(self, site: Path, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                args,
                cwd=site,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, seconds: float) -> int:
        try:
            return self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.popen.args} did not exit within {seconds} s:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM to the group (the server and its workers), SIGKILL after 20 s."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                return self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.wait(20)


def manage(site: Path, database_url: str, *args: str, log: Path) -> Process:
    return Process(site, [sys.executable, "manage.py", *args], site_env(database_url), log)
