"""One redaction everywhere: each form of a fired token is gone from every place a failure goes."""

from __future__ import annotations

import base64
import html
import json
import secrets as random
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.conf import settings
from django.test import override_settings

from regstack_django import HookRegistry, signals
from regstack_django.models import OutboxEvent
from regstack_django.worker import deliver
from tests.utils import bridge_errors, connected, every_logged_text

TOKEN = random.token_urlsafe(32)
URL = "https://example.com/reset-password?token=" + TOKEN
URL_WITHOUT = "https://example.com/reset-password?token=[REDACTED]"


def _b64(data: str, url: bool = False, pad: bool = True) -> str:
    raw = (base64.urlsafe_b64encode if url else base64.b64encode)(data.encode()).decode()
    return raw if pad else raw.rstrip("=")


#: Every form a failure may quote the token in, as the receiver writes it.
FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda t: t,
    "percent": lambda t: quote(URL, safe=""),
    "percent lower-case": lambda t: quote(URL, safe="").lower().replace(t.lower(), t),
    "form-encoded": lambda t: quote_plus(URL),
    "double-encoded": lambda t: quote(quote(URL, safe=""), safe=""),
    "base64": lambda t: _b64(t),
    "base64 no padding": lambda t: _b64(t, pad=False),
    "base64url": lambda t: _b64(t, url=True),
    "base64url no padding": lambda t: _b64(t, url=True, pad=False),
    "base64 inside a body": lambda t: _b64(f'{{"token": "{t}"}}'),
    "hex": lambda t: t.encode().hex(),
    "HEX": lambda t: t.encode().hex().upper(),
    "JSON-escaped": lambda t: json.dumps(URL + "\u00e9")[1:-1],
    "HTML-escaped": lambda t: html.escape(URL + "&x=1"),
    "bytes": lambda t: repr(URL.encode()),
}
FORM = {"name": "raw"}


def quoting(sender: object = None, url: str = "", **kwargs: Any) -> None:
    """Fail quoting the fired token in the form the test chose."""
    raise ValueError(f"could not send: {FORMS[FORM['name']](str(url)[-len(TOKEN) :])}")


def written(form: str) -> str:
    return FORMS[form](TOKEN)


def rendered(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc.args)


def assert_clean(place: str, text: str, form: str) -> None:
    assert written(form) not in text, place
    assert TOKEN not in text, place


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_is_gone_from_the_log_receiver_failed_and_fail_loud(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    FORM["name"] = form
    alerts: list[BaseException] = []
    with (
        connected(
            signals.receiver_failed, lambda sender, exception, **kw: alerts.append(exception)
        ),
        connected(signals.password_reset_requested, quoting),
        override_settings(REGSTACK_HOOKS_RAISE_ERRORS=True),
        pytest.raises(ExceptionGroup) as loud,
    ):
        registry.fire_sync(
            "password_reset_requested", user=None, url=URL, url_without_token=URL_WITHOUT
        )
    [record] = bridge_errors(caplog)
    assert record.exc_info is not None
    assert_clean("log record", every_logged_text(caplog) + rendered(record.exc_info[1]), form)
    assert_clean("receiver_failed", rendered(alerts[0]), form)
    assert_clean("fail-loud", rendered(loud.value), form)


HANDLER = "tests.secrets.test_forms.quoting"
DURABLE = {
    "password_reset_requested": [
        {"handler": HANDLER, "background": True, "durable": True, "include_secrets": True}
    ]
}
DUMMY = {"default": {"BACKEND": f"{settings.TASKS_PACKAGE}.backends.dummy.DummyBackend"}}


@pytest.mark.django_db
@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_is_gone_from_the_outbox_and_the_task_result(
    registry: HookRegistry, form: str
) -> None:
    FORM["name"] = form
    with override_settings(TASKS=DUMMY, REGSTACK_HOOKS=DURABLE):
        registry.fire_sync(
            "password_reset_requested", user=None, url=URL, url_without_token=URL_WITHOUT
        )
        row = OutboxEvent.objects.get()
        with pytest.raises(Exception, match="could not send") as raised:  # the task result
            deliver.func(row.message)
    row.refresh_from_db()
    assert row.last_error.startswith("builtins.ValueError: could not send: ")
    assert_clean("outbox last_error", row.last_error, form)
    assert_clean("task result", rendered(raised.value), form)
