"""The worker trusts nothing it reads: every refusal fails the task and runs nothing.

Each case enqueues :data:`deliver` by hand, as someone with write access to
the queue could, through the Immediate backend (which runs it at once and
records a failure like any backend). A real ``db_worker`` survives the same
rows in tests/project/test_durable_worker.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core import signing
from django.test import override_settings

from regstack_django.envelope import SALT, UntrustedMessage, open_envelope, seal
from regstack_django.serialize import PayloadError, encode
from regstack_django.worker import UntrustedTask, deliver
from tests import hooks

PKG = settings.TASKS_PACKAGE
IMMEDIATE = {"default": {"BACKEND": f"{PKG}.backends.immediate.ImmediateBackend"}}
HANDLER = "tests.hooks.record_background"
HOOKS = {
    "user_registered": [{"handler": HANDLER, "background": True}],
    "invoice_paid": [{"handler": HANDLER, "background": True}],
}
USER = {
    "id": "u1",
    "email": "carol@example.com",
    "full_name": None,
    "phone_number": None,
    "is_active": True,
    "is_verified": True,
    "is_superuser": False,
    "is_mfa_enabled": False,
    "created_at": "2026-01-02T00:00:00+00:00",
    "updated_at": None,
    "last_login": None,
}


@pytest.fixture(autouse=True)
def _settings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.CRITICAL)  # the backend logs each failure itself
    hooks.reset()
    with override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=HOOKS):
        yield
    hooks.reset()


def payload(**changes: Any) -> dict[str, Any]:
    base = encode("user_registered", object(), {})
    base["kwargs"] = {"user": dict(USER)}
    return {**base, **changes}


def run(*args: Any, **kwargs: Any) -> Any:
    result = deliver.enqueue(*args, **kwargs)
    assert hooks.CALLS == [], "a refused task ran a handler"
    return result


def failed_with(result: Any, exception: type[BaseException]) -> str:
    assert result.status == "FAILED"
    [error] = result.errors
    assert error.exception_class_path == f"{exception.__module__}.{exception.__qualname__}"
    return str(error.traceback)


def test_a_valid_message_runs_the_configured_handler() -> None:
    result = deliver.enqueue(seal(HANDLER, False, payload()))
    assert result.status == "SUCCESSFUL"
    [(_, name, kwargs)] = hooks.CALLS
    assert name == "record_background"
    assert kwargs["user"].email == "carol@example.com"


@pytest.mark.parametrize(
    "handler",
    [
        "tests.hooks.record_sync",  # a real function, not a background entry of the event
        "tests.hooks",  # a module: never imported by the worker
        "os.system",
    ],
)
def test_a_handler_that_is_not_a_configured_background_entry_is_refused(handler: str) -> None:
    text = failed_with(run(seal(handler, False, payload())), UntrustedTask)
    assert "is not a background handler of the event 'user_registered'" in text


def test_an_event_the_handler_is_not_configured_for_is_refused() -> None:
    result = run(seal(HANDLER, False, payload(event="user_deleted")))
    assert "'user_deleted'" in failed_with(result, UntrustedTask)


def test_an_unsigned_or_tampered_message_is_refused() -> None:
    good = seal(HANDLER, False, payload())
    value, signature = good.rsplit(":", 1)
    forged = signing.Signer(key="not-the-secret-key", salt=SALT).sign_object(open_envelope(good)[2])
    for message in (f"{value}:{signature[::-1]}", forged, value, "", "x:y"):
        text = failed_with(run(message), UntrustedMessage)
        assert "nothing was run" in text


def test_the_wrong_task_arguments_fail_inside_the_task() -> None:
    message = seal(HANDLER, False, payload())
    failed_with(run(), UntrustedTask)
    failed_with(run(message, message), UntrustedTask)
    failed_with(run(message=message, extra=1), UntrustedTask)
    legacy = failed_with(run(handler=HANDLER, payload=payload(version=1)), UntrustedTask)
    assert "unsigned task" in legacy
    failed_with(run({"handler": HANDLER}), UntrustedMessage)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"extra": 1}, "unexpected ['extra']"),
        ({"kwargs": {"user": dict(USER), "password": "x"}}, "unexpected ['password']"),
        ({"kwargs": {}}, "missing ['user']"),
        ({"kwargs": {"user": {**USER, "hashed_password": "x"}}}, "unexpected ['hashed_password']"),
        ({"event_id": "not-a-uuid"}, "'event_id' is not a UUID"),
        ({"kwargs": {"user": {**USER, "created_at": "yesterday"}}}, "not ISO 8601"),
        ({"kwargs": ["user"]}, "must be a JSON object"),
    ],
)
def test_a_payload_with_missing_extra_or_corrupt_keys_is_refused(
    changes: dict[str, Any], words: str
) -> None:
    text = failed_with(run(seal(HANDLER, False, payload(**changes))), PayloadError)
    assert words in text
    assert "carol@example.com" not in text


def test_a_token_url_is_refused_for_a_handler_that_did_not_opt_in() -> None:
    base = encode("verification_requested", object(), {})
    base["kwargs"] = {"email": "a@b.c", "url": "https://x/?token=t", "url_without_token": "u"}
    with override_settings(
        REGSTACK_HOOKS={"verification_requested": [{"handler": HANDLER, "background": True}]}
    ):
        assert "unexpected ['url']" in failed_with(run(seal(HANDLER, False, base)), PayloadError)


def test_a_custom_event_that_is_configured_runs() -> None:
    custom = encode("invoice_paid", object(), {"amount": 3})
    assert deliver.enqueue(seal(HANDLER, False, custom)).status == "SUCCESSFUL"
    assert hooks.CALLS[0][2]["amount"] == 3


def test_a_rotated_secret_key_still_opens_messages_signed_with_a_fallback() -> None:
    message = seal(HANDLER, False, payload())
    old = settings.SECRET_KEY
    with override_settings(SECRET_KEY="a-new-key", SECRET_KEY_FALLBACKS=[old]):
        assert deliver.enqueue(message).status == "SUCCESSFUL"
    hooks.reset()
    with override_settings(SECRET_KEY="a-new-key", SECRET_KEY_FALLBACKS=[]):
        failed_with(run(message), UntrustedMessage)


def test_a_custom_events_own_user_dict_passes_as_it_is() -> None:
    custom = encode("invoice_paid", object(), {"user": {"name": "x"}})
    assert deliver.enqueue(seal(HANDLER, False, custom)).status == "SUCCESSFUL"
    assert hooks.CALLS[0][2]["user"] == {"name": "x"}
