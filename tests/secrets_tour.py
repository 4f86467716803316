"""The whole tour over real HTTP, every logger at DEBUG, for the secrets tests.

:func:`logged_tour` serves a real regstack (``support.tour``) with uvicorn
on a free loopback port, attaches the bridge, optionally connects receivers
that leak their secrets every way a receiver can (exception message, token
alone, percent-encoded link, note, group member, cause chain, args, their
own log lines, a ``receiver_failed`` alert that logs the exception), drives
all 20 events with httpx, and returns everything every logger wrote, as
one handler formats it, together with every secret that went by: the token
links and their tokens, every password hash, the OAuth codes and the session
tokens regstack handed out. OAuth states are kept apart: regstack stores each
as a row id, which SQL logs show as a bare parameter (no key to find it by).
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import uvicorn

from regstack_django import attach, signals
from regstack_django.logging import SecretsFilter
from regstack_django.secrets import SECRET_EVENTS, tokens_of
from regstack_django.testing import capture_events
from support.tour.app import build_fastapi_app, build_tour_config, build_tour_regstack
from support.tour.provider import StandInProvider
from support.tour.steps import EXPECTED_COUNTS, run_tour
from tests.utils import connected

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


@dataclass
class LoggedTour:
    """What one tour wrote and which secrets went by."""

    output: str = ""
    records: list[tuple[str, int, str]] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    states: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def hits(self, secret: str) -> list[tuple[str, int]]:
        """``(logger, level)`` of every formatted record that holds ``secret``."""
        return [(name, level) for name, level, text in self.records if secret in text]


class _Keep(logging.Handler):
    """Keeps each record's formatted text (after the handler's filters ran)."""

    def __init__(self, sink: list[tuple[str, int, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append((record.name, record.levelno, self.format(record)))


@contextmanager
def every_logger_at_debug(handlers: list[logging.Handler]) -> Iterator[Callable[[], None]]:
    """Root and every known logger at DEBUG, ``handlers`` on the root; restored after.

    Yields a function that lowers loggers created since (regstack's, uvicorn's).
    """
    root = logging.getLogger()
    saved: dict[str, tuple[int, bool, bool]] = {}

    def lower() -> None:
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name not in saved:
                saved[name] = (logger.level, logger.propagate, logger.disabled)
                logger.setLevel(logging.DEBUG)
                logger.propagate = True
                logger.disabled = False

    root_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    lower()
    try:
        yield lower
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(root_level)
        for name, (level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def _token(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["token"]


alerts = logging.getLogger("tests.alerts")
mailer = logging.getLogger("tests.mailer")


def leaky_receivers() -> list[tuple[str, Callable[..., Any]]]:
    """Receivers that put their secrets everywhere a receiver can, by accident."""

    def message(sender: object, url: str, **kwargs: Any) -> None:
        raise ValueError(f"could not send {url}")

    def token_alone(sender: object, url: str, **kwargs: Any) -> None:
        raise ValueError(f"token {_token(url)} rejected")

    def percent_encoded(sender: object, url: str, **kwargs: Any) -> None:
        raise ConnectionError(f"GET https://mail.invalid/send?next={quote(url, safe='')} failed")

    def noted(sender: object, url: str, **kwargs: Any) -> None:
        error = RuntimeError("template failed")
        error.add_note(f"while rendering {url}")
        raise error

    def grouped(sender: object, url: str, **kwargs: Any) -> None:
        raise ExceptionGroup("two mailers failed", [ValueError(url), KeyError(_token(url))])

    def chained(sender: object, url: str, **kwargs: Any) -> None:
        try:
            raise ConnectionError(f"smtp refused {url}")
        except ConnectionError as exc:
            raise RuntimeError("mail failed") from exc

    def in_args(sender: object, url: str, **kwargs: Any) -> None:
        raise LookupError("no template", url, _token(url))

    def logs_its_link(sender: object, url: str, **kwargs: Any) -> None:
        mailer.info("sending %s", url)
        mailer.debug("kwargs %r", {"url": url, **kwargs})
        mailer.info("token was %s", _token(url))

    def hash_in_message(sender: object, user: Any = None, **kwargs: Any) -> None:
        if user is not None:
            mailer.debug("user %r", user)
            raise ValueError(f"bad hash {user.hashed_password}")

    connected_to = [
        (event, r)
        for event in sorted(SECRET_EVENTS)
        for r in (
            message,
            token_alone,
            percent_encoded,
            noted,
            grouped,
            chained,
            in_args,
            logs_its_link,
        )
    ]
    connected_to += [(event, hash_in_message) for event in sorted(EXPECTED_COUNTS)]
    return connected_to


def alert(sender: object, event: str, receiver: str, exception: BaseException, **kw: Any) -> None:
    """A ``receiver_failed`` receiver that alerts the way people write them."""
    alerts.error("receiver %s failed: %s / %r", receiver, exception, exception.args)
    alerts.error("alert", exc_info=exception)


@contextmanager
def _connected_all(pairs: list[tuple[str, Callable[..., Any]]]) -> Iterator[None]:
    for event, receiver in pairs:
        signals.signal_for(event).connect(receiver, weak=False)
    try:
        yield
    finally:
        for event, receiver in pairs:
            signals.signal_for(event).disconnect(receiver)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def logged_tour(tmp_path: Path, *, scrub: bool, leaky: bool = True) -> LoggedTour:
    """Run the tour once; see the module docstring."""
    result = LoggedTour()
    keep = _Keep(result.records)
    keep.setFormatter(logging.Formatter(FORMAT))
    stream = io.StringIO()
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter(FORMAT))
    handlers: list[logging.Handler] = [console, keep]
    if scrub:
        for handler in handlers:
            handler.addFilter(SecretsFilter())
    with every_logger_at_debug(handlers) as lower:
        rs = build_tour_regstack(
            build_tour_config(f"sqlite+aiosqlite:///{tmp_path / 'secrets.db'}?timeout=30")
        )
        provider = rs.oauth.get("standin")
        assert isinstance(provider, StandInProvider)
        approve = provider.approve

        def recording_approve(authorization_url: str, user_info: Any) -> str:
            callback = approve(authorization_url, user_info)
            query = dict(parse_qsl(urlsplit(callback).query))
            result.secrets.add(query["code"])
            result.states.add(query["state"])
            return callback

        provider.approve = recording_approve  # type: ignore[method-assign]
        app = build_fastapi_app(rs)
        attach(rs)
        sock = _free_socket()
        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=True)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))

        async def sessions(response: httpx.Response) -> None:
            await response.aread()
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
                if isinstance(body, dict):
                    for key in ("access_token", "pending_token", "mfa_pending_token"):
                        if isinstance(body.get(key), str):
                            result.secrets.add(body[key])

        try:
            for _ in range(200):  # bounded: at most 10 s to start
                if server.started:
                    break
                await asyncio.sleep(0.05)
            assert server.started, "uvicorn did not start"
            lower()
            port = sock.getsockname()[1]
            pairs = leaky_receivers() if leaky else []
            with (
                capture_events() as fired,
                _connected_all(pairs),
                connected(signals.receiver_failed, *([alert] if leaky else [])),
            ):
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}",
                    event_hooks={"response": [sessions]},
                    timeout=30,
                ) as client:
                    await run_tour(client, rs, say=lambda line: None)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 30)
            sock.close()
    for record in fired:
        url = record.kwargs.get("url")
        if isinstance(url, str):
            result.secrets.add(str(url))
            result.secrets.update(tokens_of(str(url), record.kwargs.get("url_without_token")))
        hashed = getattr(record.kwargs.get("user"), "hashed_password", None)
        if hashed:
            result.hashes.add(hashed)
        result.counts[record.event] = result.counts.get(record.event, 0) + 1
    result.output = stream.getvalue()
    return result
