"""``regstack_django.payloads``: the TypedDicts match the events, and mypy enforces them.

The mypy tests type-check small receiver modules the way a project's CI would
(``mypy --strict``, no Django plugin needed) in a subprocess: a receiver that
reads the event's real keys passes, one that reads a key the event does not
carry fails.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from regstack_django import KNOWN_EVENTS, payloads
from regstack_django.events import EVENT_ARGUMENTS
from regstack_django.payloads import EVENT_KWARGS

PROJECT = Path(__file__).resolve().parents[2]

MYPY_CONFIG = f"""
[mypy]
strict = True
mypy_path = {PROJECT}

# Only the receiver module is under test; the package has its own mypy run.
[mypy-regstack_django.*]
follow_imports = silent

# regstack ships no py.typed; read its source anyway so BaseUser is typed.
[mypy-regstack.*]
follow_imports = silent
follow_untyped_imports = True
"""

GOOD_RECEIVERS = """
from __future__ import annotations

from typing import Unpack

from django.dispatch import receiver

from regstack_django import signals
from regstack_django.payloads import (
    OauthSigninStartedKwargs,
    UserLoggedInKwargs,
    VerificationRequestedKwargs,
)


@receiver(signals.user_logged_in)
def on_login(sender: object, **kwargs: Unpack[UserLoggedInKwargs]) -> None:
    email: str = kwargs["user"].email
    assert kwargs["signal"] is signals.user_logged_in
    print(email)


def on_verification(sender: object, **kwargs: Unpack[VerificationRequestedKwargs]) -> None:
    print(kwargs["email"], kwargs["url_without_token"])


def on_oauth_start(sender: object, **kwargs: Unpack[OauthSigninStartedKwargs]) -> None:
    user = kwargs.get("user")  # link mode only
    if kwargs["mode"] == "link" and user is not None:
        print(kwargs["provider"], user.email)
"""

BAD_RECEIVER = """
from __future__ import annotations

from typing import Unpack

from regstack_django.payloads import UserLoggedInKwargs


def on_login(sender: object, **kwargs: Unpack[UserLoggedInKwargs]) -> None:
    print(kwargs["url"])
"""


def camel(event: str) -> str:
    return "".join(part.capitalize() for part in event.split("_")) + "Kwargs"


def test_one_typeddict_per_known_event_named_after_it() -> None:
    assert set(EVENT_KWARGS) == KNOWN_EVENTS
    for event, typed_dict in EVENT_KWARGS.items():
        assert typed_dict.__name__ == camel(event)
        assert getattr(payloads, camel(event)) is typed_dict
        assert camel(event) in payloads.__all__


@pytest.mark.parametrize("event", sorted(KNOWN_EVENTS))
def test_typeddict_keys_are_the_event_arguments_plus_signal(event: str) -> None:
    required, optional = EVENT_ARGUMENTS[event]
    typed_dict = EVENT_KWARGS[event]
    assert typed_dict.__required_keys__ == {*required, "signal"}  # type: ignore[attr-defined]
    assert typed_dict.__optional_keys__ == set(optional)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def mypy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One config and one cache for both runs, so the second one is warm."""
    directory = tmp_path_factory.mktemp("mypy")
    (directory / "mypy.ini").write_text(MYPY_CONFIG)
    return directory


def run_mypy(directory: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(directory / "mypy.ini"),
            "--cache-dir",
            str(directory / ".mypy_cache"),
            "--no-error-summary",
            str(path),
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_mypy_accepts_receivers_that_use_the_payload_types(mypy_dir: Path) -> None:
    result = run_mypy(mypy_dir, "good_receivers.py", GOOD_RECEIVERS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_rejects_a_key_the_event_does_not_carry(mypy_dir: Path) -> None:
    result = run_mypy(mypy_dir, "bad_receiver.py", BAD_RECEIVER)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'TypedDict "UserLoggedInKwargs" has no key "url"' in result.stdout, result.stdout
    line = BAD_RECEIVER.splitlines().index('    print(kwargs["url"])') + 1
    assert result.stdout.startswith(f"bad_receiver.py:{line}: error:"), result.stdout
    assert result.stdout.count(": error:") == 1, result.stdout
