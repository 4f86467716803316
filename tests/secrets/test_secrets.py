"""A receiver that quotes a fire's secret, any way it can, never gets it into a log,
an alert, a fail-loud traceback or a rendering of a frame's locals."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from django.views.debug import ExceptionReporter

from regstack_django import HookRegistry, attach, signals
from regstack_django.failures import RedactedReceiverError
from regstack_django.secrets import SecretURL, secret_forms, tokens_of
from regstack_django.serialize import encode
from regstack_django.testing import capture_events
from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack
from tests.utils import bridge_errors, connected, every_logged_text

TOKEN = "s3cr3t-single-use-token-0123456789abcdef"
URL = f"https://example.com/reset-password?token={TOKEN}"
URL_WITHOUT = "https://example.com/reset-password?token=[REDACTED]"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
EVERY_SECRET = (TOKEN, quote(TOKEN, safe=""), HASH, quote(HASH, safe=""))


class User:
    email = "alice@example.com"
    hashed_password = HASH

    def __repr__(self) -> str:
        return f"<User {self.email}>"


def _token(url: str) -> str:
    return url.split("token=", 1)[1]


def message(sender: object, url: str, **kwargs: Any) -> None:
    raise ValueError(f"could not send {url}")


def token_alone(sender: object, url: str, **kwargs: Any) -> None:
    raise ValueError(f"token {_token(url)} was rejected")


def percent_encoded(sender: object, url: str, **kwargs: Any) -> None:
    raise ConnectionError(f"GET https://mail.invalid/send?next={quote(url, safe='')} failed")


def percent_encoded_path(sender: object, url: str, **kwargs: Any) -> None:
    raise ConnectionError(f"GET https://mail.invalid/{quote(url)} failed")


def form_encoded(sender: object, url: str, **kwargs: Any) -> None:
    raise ConnectionError(f"POST body link={quote_plus(url)} refused")


def noted(sender: object, url: str, **kwargs: Any) -> None:
    error = RuntimeError("template failed")
    error.add_note(f"while rendering {url}")
    raise error


def grouped(sender: object, url: str, **kwargs: Any) -> None:
    raise ExceptionGroup(
        "mailers failed",
        [ValueError("first is fine"), ExceptionGroup("inner", [KeyError(_token(url))])],
    )


def caused(sender: object, url: str, **kwargs: Any) -> None:
    try:
        raise ConnectionError(f"smtp refused {url}")
    except ConnectionError as exc:
        raise RuntimeError("mail failed") from exc


def while_handling(sender: object, url: str, **kwargs: Any) -> None:
    try:
        raise ConnectionError(f"smtp refused {_token(url)}")
    except ConnectionError:
        raise RuntimeError("mail failed")  # noqa: B904 - the implicit __context__ on purpose


def in_args(sender: object, url: str, **kwargs: Any) -> None:
    raise LookupError("no template for", str(url), _token(url))


def the_hash(sender: object, user: User, **kwargs: Any) -> None:
    raise ValueError(f"bad user {user.hashed_password} / {quote(user.hashed_password)}")


VARIANTS = [
    message,
    token_alone,
    percent_encoded,
    percent_encoded_path,
    form_encoded,
    noted,
    grouped,
    caused,
    while_handling,
    in_args,
    the_hash,
]


def fire(registry: HookRegistry, how: str, **extra: Any) -> Any:
    kwargs = {"user": User(), "url": URL, "url_without_token": URL_WITHOUT, **extra}
    if how == "sync":
        return asyncio.to_thread(registry.fire_sync, "password_reset_requested", **kwargs)
    return registry.fire("password_reset_requested", **kwargs)


def rendered(exc: BaseException, *, capture_locals: bool = False) -> str:
    """Everything a traceback printer shows: message, args, notes, groups, the chain."""
    text = "".join(
        traceback.TracebackException.from_exception(exc, capture_locals=capture_locals).format()
    )
    return text + repr(exc.args) + repr(getattr(exc, "__notes__", None))


def assert_no_secret(text: str) -> None:
    for secret in EVERY_SECRET:
        assert secret not in text


@pytest.mark.parametrize("how", ["sync", "async"])
@pytest.mark.parametrize("receiver", VARIANTS, ids=lambda r: r.__name__)
async def test_no_form_of_a_secret_reaches_the_log_record(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, receiver: Any, how: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with connected(signals.password_reset_requested, receiver):
        await fire(registry, how)
    [record] = bridge_errors(caplog)
    assert record.exc_info is not None
    logged = record.exc_info[1]
    assert isinstance(logged, RedactedReceiverError)
    assert logged.__traceback__ is not None
    text = every_logged_text(caplog) + rendered(logged)
    assert_no_secret(text)
    assert "[REDACTED]" in text
    assert "tests.secrets.test_secrets" in text  # the traceback still points at the receiver


async def test_the_stand_in_keeps_the_shape_of_the_failure(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with connected(signals.password_reset_requested, grouped, noted, caused):
        await fire(registry, "async")
    group, note, cause = (r.exc_info[1] for r in bridge_errors(caplog) if r.exc_info)
    assert isinstance(group, ExceptionGroup)
    assert str(group).startswith("builtins.ExceptionGroup: mailers failed")
    first, inner = group.exceptions
    assert str(first) == "builtins.ValueError: first is fine"
    assert isinstance(inner, ExceptionGroup)
    assert [str(e) for e in inner.exceptions] == ["builtins.KeyError: '[REDACTED]'"]
    assert note.__notes__ == ["while rendering [REDACTED]"]
    assert isinstance(cause.__cause__, RedactedReceiverError)
    assert str(cause.__cause__) == "builtins.ConnectionError: smtp refused [REDACTED]"
    assert cause.__suppress_context__


@pytest.mark.parametrize("receiver", VARIANTS, ids=lambda r: r.__name__)
async def test_receiver_failed_receivers_get_the_redacted_exception(
    registry: HookRegistry, receiver: Any
) -> None:
    got: list[BaseException] = []

    def alert(sender: object, exception: BaseException, **kwargs: Any) -> None:
        got.append(exception)

    with (
        connected(signals.receiver_failed, alert),
        connected(signals.password_reset_requested, receiver),
    ):
        await fire(registry, "async")
    [exception] = got
    assert isinstance(exception, RedactedReceiverError)
    assert str(exception).startswith(("builtins.", "builtins.ExceptionGroup")), (
        "names the receiver's exception type"
    )
    assert_no_secret(rendered(exception))


@pytest.mark.usefixtures("regstack_fail_loud")
def test_fail_loud_raises_the_redacted_exceptions_from_fire_sync(registry: HookRegistry) -> None:
    # The url is passed inline: the caller's own frame holds no copy of the link.
    with (
        connected(signals.password_reset_requested, token_alone, noted, grouped),
        pytest.raises(ExceptionGroup) as raised,
    ):
        registry.fire_sync(
            "password_reset_requested", user=User(), url=URL, url_without_token=URL_WITHOUT
        )
    assert all(isinstance(e, RedactedReceiverError) for e in raised.value.exceptions)
    assert_no_secret(rendered(raised.value, capture_locals=True))


@pytest.mark.usefixtures("regstack_fail_loud")
async def test_fail_loud_raises_the_redacted_exceptions_from_fire(registry: HookRegistry) -> None:
    with (
        connected(signals.password_reset_requested, token_alone, noted, grouped),
        pytest.raises(ExceptionGroup) as raised,
    ):
        await registry.fire(
            "password_reset_requested", user=User(), url=URL, url_without_token=URL_WITHOUT
        )
    assert all(isinstance(e, RedactedReceiverError) for e in raised.value.exceptions)
    assert_no_secret(rendered(raised.value, capture_locals=True))


def no_secret_in_message(sender: object, url: str, user: User, **kwargs: Any) -> None:
    link = url  # a local holding the live link, as any receiver has
    raise RuntimeError(f"could not send to {user.email} ({len(link)} chars)")


async def no_secret_in_message_async(sender: object, url: str, **kwargs: Any) -> None:
    link = url
    await asyncio.sleep(0)
    raise RuntimeError(f"could not send ({len(link)} chars)")


@pytest.mark.parametrize("how", ["sync", "async"])
@pytest.mark.parametrize(
    "receiver", [no_secret_in_message, no_secret_in_message_async], ids=["sync", "async"]
)
async def test_no_frame_renders_the_live_url(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, receiver: Any, how: str
) -> None:
    with connected(signals.password_reset_requested, receiver):
        await fire(registry, how)
    [record] = bridge_errors(caplog)
    assert record.exc_info is not None
    exc_type, exc, tb = record.exc_info
    assert isinstance(exc, RuntimeError)  # nothing to redact: the receiver's own exception
    with_locals = rendered(exc, capture_locals=True)
    assert "link = " in with_locals  # the locals are rendered...
    assert URL_WITHOUT in with_locals  # ...the link as its redacted repr
    assert TOKEN not in with_locals
    html = ExceptionReporter(None, exc_type, exc, tb).get_traceback_html()
    assert "no_secret_in_message" in html
    assert TOKEN not in html


def test_the_url_receivers_get_is_the_real_link_with_a_redacted_repr(
    registry: HookRegistry,
) -> None:
    got: list[Any] = []
    with (
        connected(signals.password_reset_requested, lambda sender, url, **kw: got.append(url)),
        capture_events() as captured,
    ):
        registry.fire_sync(
            "password_reset_requested", user=User(), url=URL, url_without_token=URL_WITHOUT
        )
    [url] = got
    assert isinstance(url, str)
    assert isinstance(url, SecretURL)
    assert url == URL
    assert str(url) == URL
    assert type(str(url)) is str
    assert f"<a href='{url}'>" == f"<a href='{URL}'>"
    assert "%s" % url == URL  # noqa: UP031 - the old formatting too
    assert repr(url) == repr(URL_WITHOUT)
    assert TOKEN not in repr({"url": url})
    assert TOKEN not in "%r" % (url,)  # noqa: UP031
    assert json.loads(json.dumps({"url": url})) == {"url": URL}
    assert pickle.loads(pickle.dumps(url)) == URL
    assert captured[0].kwargs["url"] == URL
    payload = encode("password_reset_requested", None, {"url": url}, include_secrets=True)
    assert json.loads(json.dumps(payload))["kwargs"]["url"] == URL


def test_events_without_a_secret_are_not_touched(registry: HookRegistry) -> None:
    got: list[dict[str, Any]] = []
    kwargs = {"user": User(), "url": URL}  # a custom event: not one of the three
    with connected("user_logged_in", lambda sender, **kw: got.append(kw)):
        registry.fire_sync("user_logged_in", **kwargs)
    assert type(got[0]["url"]) is str


def test_short_secrets_do_not_mangle_text(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    class TestUser:
        email = "x@example.com"
        hashed_password = "x"

    def fails(sender: object, user: TestUser, **kwargs: Any) -> None:
        raise ValueError(f"no mailbox for {user.email} (abc)")

    with connected(signals.password_reset_requested, fails):
        registry.fire_sync(
            "password_reset_requested",
            user=TestUser(),
            url="https://e.com/r?token=abc",
            url_without_token="https://e.com/r?token=[REDACTED]",
        )
    [record] = bridge_errors(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)  # nothing was redacted
    assert "no mailbox for x@example.com (abc)" in every_logged_text(caplog)


@pytest.mark.parametrize(
    ("url", "without", "tokens"),
    [
        (URL, URL_WITHOUT, [TOKEN]),
        (URL, None, [TOKEN]),  # no url_without_token: the query says where it is
        (URL, "x", [TOKEN]),
        (f"https://e.com/#/verify/{TOKEN}", "https://e.com/#/verify/[REDACTED]", [TOKEN]),
        (
            f"https://e.com/v/{TOKEN}?again={TOKEN}",
            "https://e.com/v/[REDACTED]?again=[REDACTED]",
            [TOKEN],
        ),
        ("https://e.com/r?token=short", "https://e.com/r?token=[REDACTED]", []),
    ],
)
def test_the_token_is_what_url_has_and_url_without_token_lacks(
    url: str, without: str | None, tokens: list[str]
) -> None:
    assert tokens_of(url, without) == tokens


def test_secret_forms_cover_raw_and_encoded_forms_longest_first() -> None:
    forms = secret_forms({"url": URL, "url_without_token": URL_WITHOUT, "user": User()})
    for value in (URL, TOKEN, HASH):
        assert {value, quote(value), quote(value, safe=""), quote_plus(value)} <= set(forms)
    assert forms == sorted(forms, key=len, reverse=True)
    assert secret_forms({"user": type("U", (), {"hashed_password": "x"})()}) == []


async def test_a_real_regstack_receivers_frames_render_no_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over HTTP, through attach(): the same for regstack's own rs.on handlers."""
    seen_by_regstack_handler: list[str] = []
    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{tmp_path / 'rs'}.db"))
    rs.on("verification_requested", lambda **kw: seen_by_regstack_handler.append(repr(kw)))
    app = build_fastapi_app(rs)
    async with app.router.lifespan_context(app):
        attach(rs)
        transport = httpx.ASGITransport(app=app)
        with (
            connected(signals.verification_requested, no_secret_in_message_async),
            capture_events("verification_requested") as fired,
        ):
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.post(
                    "/api/auth/register",
                    json={"email": "a@example.com", "password": "pw-123456789"},
                )
    assert response.status_code == 201
    [event] = fired
    token = tokens_of(str(event.kwargs["url"]), event.kwargs["url_without_token"])[0]
    [record] = bridge_errors(caplog)
    assert record.exc_info is not None
    exc_type, exc, tb = record.exc_info
    assert exc is not None
    with_locals = rendered(exc, capture_locals=True)
    assert "link = " in with_locals
    assert token not in with_locals
    assert token not in ExceptionReporter(None, exc_type, exc, tb).get_traceback_html()
    assert token not in seen_by_regstack_handler[0]


@pytest.mark.parametrize(
    ("without", "shown"),
    [(URL_WITHOUT, URL_WITHOUT), (None, "[REDACTED]"), ("x", "[REDACTED]"), (URL, "[REDACTED]")],
)
def test_the_repr_of_the_url_never_shows_the_link(without: str | None, shown: str) -> None:
    assert repr(SecretURL(URL, without)) == repr(shown)
