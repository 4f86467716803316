"""No frame a renderer reaches through a ``regstack_django`` failure record holds a secret.

Django's ``ExceptionReporter`` as ``AdminEmailHandler(include_html=True)`` sends it, and
a Sentry-style dump of every frame's locals, for each dispatch path and receiver variant.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import secrets as random
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import django
import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.test import override_settings
from django.utils.log import AdminEmailHandler

from regstack_django import HookRegistry, signals
from regstack_django.secrets import forms_of
from tests.utils import connected

# Made at run time: a literal would show in the source lines a report quotes.
TOKEN = random.token_urlsafe(32)
URL = "https://example.com/reset-password?token=" + TOKEN + "&next=/home"
URL_WITHOUT = "https://example.com/reset-password?token=[REDACTED]&next=/home"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$" + random.token_urlsafe(16) + "$" + random.token_urlsafe(32)

#: Django 6.0 takes plain addresses and deprecates (name, address) pairs; 5.2 takes pairs.
ADMINS: list[Any] = (
    ["ops@example.com"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.com")]
)
#: Django 6.1 sends through MAILERS and warns when a project relies on the default mailer.
MAIL: dict[str, Any] = (
    {"MAILERS": {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}}
    if django.VERSION >= (6, 1)
    else {}
)


class PlainUser:
    email = "alice@example.com"
    hashed_password = HASH

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class PydanticLikeUser(PlainUser):
    """Like regstack's ``BaseUser``: its ``repr()`` shows the hash."""

    def __repr__(self) -> str:
        return f"BaseUser(email={self.email!r}, hashed_password={self.hashed_password!r})"


def _token(url: str) -> str:
    return url.split("token=", 1)[1].split("&", 1)[0]


def _raise(text: str) -> None:
    raise ValueError(text)


def _own_local(url: str) -> None:
    token = _token(url)  # the receiver's own plain str
    raise RuntimeError(f"mail failed ({len(token)} chars)")


def _grouped(url: str) -> None:
    raise ExceptionGroup("mailers failed", [ValueError("fine"), KeyError(_token(url))])


def _caused(url: str) -> None:
    try:
        raise ConnectionError(f"smtp refused {url}")
    except ConnectionError as exc:
        raise RuntimeError("mail failed") from exc


def _noted(url: str) -> None:
    error = RuntimeError("template failed")
    error.add_note(f"while rendering {url}")
    raise error


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


#: The receiver variants: what each one does with the url (or the user) before failing.
VARIANTS: dict[str, Callable[[str, Any], None]] = {
    "message": lambda url, user: _raise(f"could not send {url}"),
    "token alone": lambda url, user: _raise(f"token {_token(url)} was rejected"),
    "JSON": lambda url, user: _raise(json.dumps({"url": url, "to": user.email})),
    "JSON key": lambda url, user: _raise(json.dumps({_token(url): "pending"})),
    "bytes": lambda url, user: _raise(str(url).encode()),  # type: ignore[arg-type]
    "HTML-escaped": lambda url, user: _raise(html.escape(f"<a href='{url}'>reset</a>")),
    "urlencoded": lambda url, user: _raise(f"GET /send?next={quote(url, safe='')}"),
    "form-encoded": lambda url, user: _raise(f"link={quote_plus(url)}"),
    "own local": lambda url, user: _own_local(url),
    "base64": lambda url, user: _raise(f"body {_b64('token=' + _token(url))}"),
    "base64url": lambda url, user: _raise(f"state {_b64url(_token(url))}"),
    "hex": lambda url, user: _raise(f"digest {_token(url).encode().hex()}"),
    "noted": lambda url, user: _noted(url),
    "grouped": lambda url, user: _grouped(url),
    "caused": lambda url, user: _caused(url),
    "in args": lambda url, user: (_ for _ in ()).throw(LookupError("no template", str(url))),
    "hash": lambda url, user: _raise(f"bad user {user.hashed_password}"),
    "user local": lambda url, user: _raise(f"no mailbox {user.email}"),
}


def receiver_for(variant: str, is_async: bool) -> Callable[..., Any]:
    behave = VARIANTS[variant]
    if is_async:

        async def async_receiver(sender: object, url: str, user: Any, **kwargs: Any) -> None:
            await asyncio.sleep(0)
            behave(url, user)

        return async_receiver

    def sync_receiver(sender: object, url: str, user: Any, **kwargs: Any) -> None:
        behave(url, user)

    return sync_receiver


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def reported() -> Iterator[tuple[Keep, AdminEmailHandler]]:
    """Our logger's ERRORs, kept and sent as Django sends them to ADMINS (no SecretsFilter)."""
    logger = logging.getLogger("regstack_django")
    keep, email = Keep(), AdminEmailHandler(include_html=True)
    keep.setLevel(logging.ERROR)
    email.setLevel(logging.ERROR)
    logger.addHandler(keep)
    logger.addHandler(email)
    try:
        with override_settings(ADMINS=ADMINS, **MAIL):
            yield keep, email
    finally:
        logger.removeHandler(keep)
        logger.removeHandler(email)


def locals_dump(exc: BaseException | None) -> str:
    """What Sentry sends: every frame of the traceback and of the chain, every local's repr."""
    parts, seen, stack = [], set(), [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts.append(repr(current))
        tb = current.__traceback__
        while tb is not None:
            parts += [f"{name}={value!r}" for name, value in tb.tb_frame.f_locals.items()]
            tb = tb.tb_next
        stack += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            stack += list(current.exceptions)
    return "\n".join(parts)


SECRETS = [f for s in (TOKEN, HASH) for f in forms_of(s) if len(f) >= 16]


def leaks(text: str) -> list[str]:
    return [form for form in SECRETS if form in text]


def fire(registry: HookRegistry, path: str, user: Any) -> None:
    kwargs = {"user": user, "url": URL, "url_without_token": URL_WITHOUT}
    if path == "sync fire_sync":
        registry.fire_sync("password_reset_requested", **kwargs)
    elif path == "async on the pool":
        asyncio.run(registry.fire("password_reset_requested", **kwargs))
    else:  # a Django request's thread / any sync caller of the async API
        async_to_sync(registry.fire)("password_reset_requested", **kwargs)


PATHS = ["sync fire_sync", "async on the pool", "async under async_to_sync"]


@pytest.mark.parametrize("user", [PlainUser(), PydanticLikeUser()], ids=["user", "pydantic-user"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync-receiver", "async-receiver"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_rendering_of_a_failure_record_holds_a_secret(
    registry: HookRegistry,
    reported: tuple[Keep, AdminEmailHandler],
    variant: str,
    path: str,
    is_async: bool,
    user: Any,
) -> None:
    keep, _email = reported
    receiver = receiver_for(variant, is_async)
    with connected(signals.password_reset_requested, receiver):
        fire(registry, path, user)
    [record] = keep.records
    assert record.exc_info is not None
    [sent] = mail.outbox
    [(html_body, _mime)] = sent.alternatives  # type: ignore[attr-defined]
    assert ("async_receiver" if is_async else "sync_receiver") in html_body  # its frame is shown
    assert "test_frames.py" in sent.body  # the text report names the receiver's file
    assert leaks(sent.subject + sent.body + str(html_body)) == []
    assert leaks(locals_dump(record.exc_info[1])) == []
    assert leaks(keep.format(record) + repr(record.__dict__)) == []
