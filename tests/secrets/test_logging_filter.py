"""``SecretsFilter`` on a handler scrubs what other libraries log, as they log it."""

from __future__ import annotations

import functools
import io
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy
from uvicorn.logging import AccessFormatter

from regstack_django import HookRegistry
from regstack_django.logging import SecretsFilter, scrub
from regstack_django.redaction import RedactedError
from regstack_django.secrets import SECRET_QUERY_KEYS
from tests.utils import connected

TOKEN = "Kq3vT0kXb1n8Y2pZ5wD7hF9jL4mR6sU0aC2eG4iK6oQ"  # token_urlsafe(32)-shaped
LINK = f"http://127.0.0.1:8000/verify?token={TOKEN}"
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjMiLCJwdXJwb3NlIjoicmVzZXQifQ.c2ln"


@contextmanager
def filtered(
    name: str, level: int = logging.DEBUG, fmt: str = "%(message)s"
) -> Iterator[io.StringIO]:
    """A stream handler with SecretsFilter on logger ``name`` for the block."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(SecretsFilter())
    logger = logging.getLogger(name)
    saved = logger.level, logger.propagate
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def test_regstacks_console_mail_line() -> None:
    body = f"Hi Alice,\n\nConfirm your address: {LINK}\n\nThe link expires in 24 hours."
    with filtered("regstack.email.console") as out:
        # exactly what regstack.email.console.ConsoleEmailService.send logs
        logging.getLogger("regstack.email.console").debug(
            "[regstack/console-email] text body:\n%s", body
        )
    text = out.getvalue()
    assert TOKEN not in text
    assert "Confirm your address: http://127.0.0.1:8000/verify?token=[REDACTED]" in text
    assert "The link expires in 24 hours." in text


def test_sqlalchemy_info_lines_with_a_hash() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    with filtered("sqlalchemy.engine.Engine", logging.INFO) as out, engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE users (email TEXT, hashed_password TEXT)"))
        conn.execute(
            sqlalchemy.text("INSERT INTO users VALUES (:email, :hashed)"),
            {"email": "alice@example.com", "hashed": HASH},
        )
    engine.dispose()
    text = out.getvalue()
    assert "INSERT INTO users" in text
    assert "alice@example.com" in text
    assert "$argon2id$" not in text
    assert HASH not in text


def test_uvicorn_access_lines_keep_their_formatter_working() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    handler.addFilter(SecretsFilter())
    path = f"/api/auth/oauth/standin/callback?code={TOKEN}&state={TOKEN[::-1]}"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 302),
        None,
    )
    handler.handle(record)
    text = stream.getvalue()
    assert (
        '"GET /api/auth/oauth/standin/callback?code=[REDACTED]&state=[REDACTED] HTTP/1.1" 302'
        in text
    )
    assert TOKEN not in text
    assert TOKEN[::-1] not in text


def test_httpx_request_lines_with_a_url_object() -> None:
    url = httpx.URL(
        f"http://127.0.0.1:8000/api/auth/oauth/standin/callback?code={TOKEN}&state=abcdefgh"
    )
    with filtered("httpx") as out:
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 302, "Found"
        )
    assert out.getvalue().strip() == (
        "HTTP Request: GET http://127.0.0.1:8000/api/auth/oauth/standin/callback"
        '?code=[REDACTED]&state=[REDACTED] "HTTP/1.1 302 Found"'
    )


def test_aiosqlite_debug_lines_with_a_partial_holding_the_parameters() -> None:
    def execute(sql: str, parameters: Any) -> None: ...

    call = functools.partial(
        execute, "INSERT INTO users VALUES (?, ?)", ("alice@example.com", HASH)
    )
    with filtered("aiosqlite") as out:
        logging.getLogger("aiosqlite").debug("executing %s", call)
    assert "$argon2id$" not in out.getvalue()
    assert "alice@example.com" in out.getvalue()


def test_the_exception_text_is_scrubbed_once_and_cached() -> None:
    with filtered("tests.somelib", fmt="%(message)s") as out:
        try:
            raise ConnectionError(f"POST https://api.invalid/?next={LINK} with Bearer {JWT}")
        except ConnectionError:
            logging.getLogger("tests.somelib").exception("request failed")
    text = out.getvalue()
    assert TOKEN not in text
    assert JWT not in text
    assert "Traceback" in text


def test_handlers_that_render_the_exception_themselves_get_a_stand_in() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    handler.addFilter(SecretsFilter())
    logger = logging.getLogger("tests.tracker")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"hash {HASH}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    [record] = seen
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RedactedError)
    assert str(record.exc_info[1]) == "builtins.ValueError: hash [REDACTED]"
    assert record.exc_text is not None
    assert HASH not in record.exc_text
    # another formatter reuses the cached text instead of rendering the raw exception
    assert HASH not in logging.Formatter("%(levelname)s %(message)s").format(record)


@pytest.mark.parametrize(
    "text",
    [
        "exit code=1, status_code=200, user a@example.com",
        "price $5 and $2b$ alone",
        "GET /api/auth/me 200",
        "state=ok",
        "Task id=7 path=regstack_django.worker.deliver state=SUCCESSFUL",
        "Task id=7 state=FAILED, then state=NEW_STATE",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"see {LINK}", "see http://127.0.0.1:8000/verify?token=[REDACTED]"),
        (
            f"next=http%3A%2F%2Fx%2Fverify%3Ftoken%3D{TOKEN}%26a%3D1",
            "next=http%3A%2F%2Fx%2Fverify%3Ftoken%3D[REDACTED]%26a%3D1",
        ),
        (f"{{'token': '{TOKEN}'}}", "{'token': '[REDACTED]'}"),
        (f'{{"access_token": "{JWT}"}}', '{"access_token": "[REDACTED]"}'),
        (f"reset link token {JWT} sent", "reset link token [REDACTED] sent"),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [REDACTED]"),
        (f"('a@example.com', '{HASH}')", "('a@example.com', '[REDACTED]')"),
        ("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "[REDACTED]"),
        ("pbkdf2_sha256$870000$c2FsdA$aGFzaA==", "[REDACTED]"),
    ],
)
def test_what_is_scrubbed(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("key", SECRET_QUERY_KEYS)
def test_every_secret_query_key_is_scrubbed(key: str) -> None:
    assert scrub(f"GET /cb?{key}=abcdefghijkl HTTP/1.1") == f"GET /cb?{key}=[REDACTED] HTTP/1.1"
    assert scrub(f'{{"{key}": "abcdefghijkl"}}') == f'{{"{key}": "[REDACTED]"}}'


def test_a_token_fired_after_the_last_record_is_scrubbed_in_the_next(
    registry: HookRegistry,
) -> None:
    def fire(token: str) -> None:
        registry.fire_sync(
            "password_reset_requested",
            email="a@example.com",
            url=f"https://app.example.com/reset/{token}",
            url_without_token="https://app.example.com/reset/[REDACTED]",
        )

    first, second = (
        "Qw8eR7tY6uI5oP4aS3dF2gH1jK0lZ9xC8vB7nM6qW5e",
        "Lm3nB4vC5xZ6aS7dF8gH9jK0qW1eR2tY3uI4oP5aS6d",
    )
    with filtered("tests.somelib") as out:
        fire(first)
        logging.getLogger("tests.somelib").info("path /reset/%s", first)
        fire(second)
        logging.getLogger("tests.somelib").info("path /reset/%s", second)
    assert first not in out.getvalue()
    assert second not in out.getvalue()
    assert out.getvalue().count("[REDACTED]") == 2


def test_a_token_the_bridge_fired_is_scrubbed_wherever_it_shows(registry: HookRegistry) -> None:
    token = "Pz8xV2cN4bM6qW1eR3tY5uI7oP9aS0dF2gH4jK6lZ8x"  # no key to find it by
    registry.fire_sync(
        "verification_requested",
        email="a@example.com",
        url=f"https://app.example.com/#/verify/{token}",
        url_without_token="https://app.example.com/#/verify/[REDACTED]",
    )
    with filtered("tests.somelib") as out:
        log = logging.getLogger("tests.somelib")
        log.info("opened /#/verify/%s", token)
        log.info("redirect to %s", "https%3A%2F%2Fapp.example.com%2F%23%2Fverify%2F" + token)
        log.info("bare %s.", token)
    assert token not in out.getvalue()
    assert out.getvalue().count("[REDACTED]") == 3


def test_the_documented_logging_dict_configures() -> None:
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "security.md"
    code = page.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    config = namespace["LOGGING"]
    for handler in config["handlers"].values():
        assert "secrets" in handler["filters"]
    configurator = logging.config.DictConfigurator(config)
    assert isinstance(configurator.configure_filter(config["filters"]["secrets"]), SecretsFilter)


def test_extra_attributes_and_encoded_forms_of_a_fired_token_are_scrubbed(
    registry: HookRegistry,
) -> None:
    import base64

    token = "extra-form-token-" + "q" * 30
    with connected("password_reset_requested", lambda sender, **kw: None):
        registry.fire_sync(
            "password_reset_requested",
            url=f"https://e.com/r?token={token}",
            url_without_token="https://e.com/r?token=[REDACTED]",
        )
    raw = token.encode()
    forms = {
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "base64 of a body": base64.b64encode(b'{"t": "' + raw + b'"}').decode(),
    }
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "sent %s", (forms["hex"],), None)
    record.__dict__.update(
        link=f"https://e.com/r?token={token}",
        ctx={"b64": forms["base64"]},
        b64url=forms["base64url"],
    )
    record.__dict__["body"] = forms["base64 of a body"]
    SecretsFilter().filter(record)
    text = logging.Formatter("%(message)s %(link)s %(ctx)s %(b64url)s %(body)s").format(record)
    assert token not in text
    assert not [name for name, form in forms.items() if form in text]
    assert text.count("[REDACTED]") >= 5
