"""The README's project is real: built from its snippets, served, signed up over HTTP.

A README edit that breaks it fails here, and so does ``examples/minimal/`` drifting from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from django.core.management import call_command

from support.net import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.regstack, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
EXAMPLE = REPO / "examples" / "minimal"
PREFIX = "/api/auth"
README_PORT = "127.0.0.1:8000"
START_SECONDS = 90.0  # a loaded CI machine can take most of a minute to import Django + regstack
# The sections that describe the project; blocks elsewhere are not part of it.
PROJECT_SECTIONS = ("## Installation", "## Quick start", "## Testing your receivers")
SETTINGS = "mysite/settings.py"
SETTINGS_APPS = SETTINGS  # replaces startproject's INSTALLED_APPS
SETTINGS_END = f"{SETTINGS}, at the end"  # appended to startproject's settings
_FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"# ([\w./]+\.(?:py|ini)(?:, at the end)?)")
_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9._~%-]+)")


@dataclass(frozen=True)
class Block:
    lang: str
    marker: str  # the file its first line names ("# signups/models.py"), or ""
    body: str


def _section(heading: str) -> str:
    start = README.index(f"\n{heading}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def _dedent(text: str) -> str:
    lines = text.splitlines()
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines) + "\n"


def readme_blocks() -> list[Block]:
    blocks = []
    for heading in PROJECT_SECTIONS:
        for match in _FENCE.finditer(_section(heading)):
            text = _dedent(match.group(2))
            first = text.partition("\n")[0]
            named = _MARKER.fullmatch(first)
            blocks.append(Block(match.group(1), named.group(1) if named else "", text))
    return blocks


def file_blocks() -> dict[str, str]:
    """Each README block that is a file or part of one, by its marker line."""
    found: dict[str, str] = {}
    for block in readme_blocks():
        if block.marker:
            assert block.marker not in found, f"two README blocks are {block.marker!r}"
            if block.marker.startswith(SETTINGS):
                found[block.marker] = block.body.partition("\n")[2]  # a part: no marker line
            else:
                found[block.marker] = block.body
    return found


def shell_commands() -> list[list[str]]:
    """The README's project commands (``django-admin ...``, ``python manage.py ...``)."""
    commands = []
    for block in readme_blocks():
        if block.lang != "sh":
            continue
        for line in block.body.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["django-admin"] or words[:2] == ["python", "manage.py"]:
                commands.append(words)
    return commands


def curl_requests() -> list[tuple[str, str, dict[str, str], str]]:
    """(method, path, headers, body) of each README ``curl`` command, in order."""
    found = []
    for block in readme_blocks():
        for line in block.body.splitlines():
            if not line.startswith("curl "):
                continue
            words = shlex.split(line)
            url = next(w for w in words if w.startswith("http"))
            words.remove(url)
            options = dict(zip(words[1::2], words[2::2], strict=True))
            assert url.startswith(f"http://{README_PORT}{PREFIX}/"), url
            name, _, value = options["-H"].partition(": ")
            path = url.removeprefix(f"http://{README_PORT}")
            found.append((options["-X"], path, {name: value}, options["-d"]))
    return found


# -- building the project ----------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "REGSTACK_", "TESTPROJECT_", "PYTEST_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)  # the project runs from its own folder, as a user's does
    return env


def _run(words: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    if words[0] == "django-admin":
        words = [sys.executable, "-m", "django", *words[1:]]
    elif words[0] == "python":
        words = [sys.executable, *words[1:]]
    done = subprocess.run(
        words,
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{shlex.join(words)}:\n{done.stdout}\n{done.stderr}"
    return done


def build_project(root: Path) -> Path:
    """The README's project in ``root``: its commands, and its files in between.

    ``startproject`` and ``startapp`` need no settings and run in this process;
    the commands after the files run in one ``manage.py``-like process (what
    ``python manage.py makemigrations ...; python manage.py migrate`` does, with
    one Django start-up instead of two).
    """
    creating = [c for c in shell_commands() if {"startproject", "startapp"} & set(c)]
    later = [c for c in shell_commands() if {"makemigrations", "migrate"} & set(c)]
    assert creating, "the README has no startproject/startapp command"
    for words in creating:
        if words[:3] == ["python", "manage.py", "startapp"]:  # startapp NAME, into ./NAME
            (root / words[3]).mkdir()
            call_command("startapp", words[3], str(root / words[3]), verbosity=0)
        else:  # django-admin startproject NAME DIRECTORY
            assert words[:2] == ["django-admin", "startproject"], words
            call_command("startproject", words[2], str(root / words[3]), verbosity=0)
    files = file_blocks()
    settings = root / SETTINGS
    text = settings.read_text(encoding="utf-8")
    text, replaced = re.subn(
        r"^INSTALLED_APPS = \[\n.*?^\]\n", files.pop(SETTINGS_APPS), text, flags=re.M | re.S
    )
    assert replaced == 1
    settings.write_text(text + "\n" + files.pop(SETTINGS_END), encoding="utf-8")
    for name, body in files.items():
        (root / name).write_text(body, encoding="utf-8")
    assert all(c[:2] == ["python", "manage.py"] for c in later), later
    script = "; ".join(
        [
            "import os, django",
            "from django.core.management import call_command",
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')",
            "django.setup()",
            *(f"call_command(*{c[2:]!r}, verbosity=0)" for c in later),
        ]
    )
    _run(["python", "-c", script], root)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("readme-project"))


# -- serving it ----------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def serve(command: list[str], cwd: Path, ready_path: str) -> Iterator[Server]:
    """Start ``command`` (``{port}`` filled in) and yield once ``ready_path`` answers."""
    for attempt in range(3):  # another process may take the free port first
        port = free_port()
        log = cwd / f"server-{port}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [part.format(port=port) for part in command],
                cwd=cwd,
                env=_clean_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        try:
            if _wait_ready(server, ready_path):
                yield server
                return
            if attempt == 2 or "already in use" not in server.output().lower():
                pytest.fail(f"{shlex.join(command)} did not start:\n{server.output()}")
        finally:
            _stop(process)


def _wait_ready(server: Server, path: str) -> bool:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(server.base + path, timeout=2)
            return True
        time.sleep(0.1)
    pytest.fail(f"no answer at {server.base}{path} in {START_SECONDS:g}s:\n{server.output()}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _rows(project: Path, email: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(project / "db.sqlite3")) as db:
        found = db.execute(
            "SELECT event FROM signups_signupevent WHERE email = ? ORDER BY id", (email,)
        )
        return [event for (event,) in found]


def _mailed_token(server: Server, email: str) -> str:
    """The token of the newest e-mail to ``email`` in the server's console output."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mails = server.output().split("[regstack/console-email] To: ")[1:]
        for mail in reversed(mails):
            found = _TOKEN.search(mail)
            if mail.startswith(email) and found:
                return found.group(1)
        time.sleep(0.1)
    pytest.fail(f"no e-mail with a token to {email} in the console:\n{server.output()}")


# -- the tests -----------------------------------------------------------------------------


def test_uvicorn_serves_the_readme_project_and_a_sign_up_writes_the_rows(project: Path) -> None:
    uvicorn = [sys.executable, "-m", "uvicorn", "mysite.asgi:application"]
    with serve([*uvicorn, "--host", "127.0.0.1", "--port", "{port}"], project, "/") as server:
        email = ""
        for method, path, headers, body in curl_requests():
            if "<token>" in body:
                body = body.replace("<token>", _mailed_token(server, email))
            email = json.loads(body).get("email", email)
            response = httpx.request(
                method, server.base + path, headers=headers, content=body, timeout=30
            )
            assert response.status_code in {200, 201}, (path, response.text)
        assert "access_token" in response.json()  # the last one is the login

        assert _rows(project, email) == [
            "verification_requested",
            "user_verified",
            "user_logged_in",
        ]
        docs = httpx.get(f"{server.base}{PREFIX}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        static = httpx.get(f"{server.base}/static/admin/css/base.css")  # DEBUG: as runserver
        assert static.status_code == 200
        assert "text/css" in static.headers["content-type"]
        assert httpx.get(f"{server.base}/admin/login/").status_code == 200  # Django's part


def test_runserver_serves_regstack_too(project: Path) -> None:
    runserver = [sys.executable, "manage.py", "runserver", "127.0.0.1:{port}", "--noreload"]
    with serve(runserver, project, "/") as server:
        docs = httpx.get(f"{server.base}{PREFIX}/docs")
        assert docs.status_code == 200, docs.text
        register = httpx.post(
            f"{server.base}{PREFIX}/register",
            json={"email": "grace@example.com", "password": "another long password"},
            timeout=30,
        )
        assert register.status_code == 201, register.text
        assert _rows(project, "grace@example.com") == ["verification_requested"]
        static = httpx.get(f"{server.base}/static/admin/css/base.css")
        assert static.status_code == 200


def test_the_readme_testing_example_passes_in_the_project(project: Path) -> None:
    assert "signups/test_signups.py" in file_blocks()
    own_database = project / "regstack.sqlite3"
    before = own_database.read_bytes() if own_database.exists() else b""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "signups"],
        cwd=project,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    # Its regstack database was a fresh temporary one: the project's own is untouched.
    assert (own_database.read_bytes() if own_database.exists() else b"") == before


def test_examples_minimal_is_the_readme_project() -> None:
    files = file_blocks()
    settings = (EXAMPLE / SETTINGS).read_text(encoding="utf-8")
    for part in (files.pop(SETTINGS_APPS), files.pop(SETTINGS_END)):
        assert part in settings, f"examples/minimal/{SETTINGS} lacks:\n{part}"
    assert set(files) == {
        "mysite/asgi.py",
        "signups/models.py",
        "signups/receivers.py",
        "signups/apps.py",
        "signups/test_signups.py",
        "pytest.ini",
    }
    for name, body in files.items():
        assert (EXAMPLE / name).read_text(encoding="utf-8") == body, f"examples/minimal/{name}"
    assert (EXAMPLE / "signups" / "migrations" / "0001_initial.py").is_file()
    assert "attach(" not in "\n".join(p.read_text(encoding="utf-8") for p in EXAMPLE.rglob("*.py"))


def test_the_readme_commands_and_requests_are_the_ones_tested() -> None:
    assert [c[-1] for c in shell_commands()] == [
        ".",
        "signups",
        "signups",
        "migrate",
        "runserver",
    ]
    assert [(m, p) for m, p, _, _ in curl_requests()] == [
        ("POST", f"{PREFIX}/register"),
        ("POST", f"{PREFIX}/verify"),
        ("POST", f"{PREFIX}/login"),
    ]
