"""Small helpers shared by the test modules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.dispatch import Signal

from regstack_django.signals import signal_for

if TYPE_CHECKING:
    import httpx

    from regstack_django.testing import CapturedEvents


@contextmanager
def connected(event: str | Signal, *receivers: Callable[..., Any]) -> Iterator[None]:
    """Connect ``receivers`` for the block and always disconnect them after."""
    signal = signal_for(event) if isinstance(event, str) else event
    for receiver in receivers:
        signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        for receiver in receivers:
            signal.disconnect(receiver)


def bridge_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The ERROR records our logger wrote."""
    return [r for r in caplog.records if r.name == "regstack_django" and r.levelno == logging.ERROR]


def every_logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything any log record holds, formatted the way a handler would."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in caplog.records:
        parts.append(formatter.format(record))
        parts.append(repr(record.__dict__))
    return "\n".join(parts)


def link_token(events: CapturedEvents, event: str) -> str:
    """The single-use token of the newest ``event``'s link."""
    return parse_qs(urlsplit(events.of(event)[-1].kwargs["url"]).query)["token"][0]


async def register_and_verify(
    client: httpx.AsyncClient, events: CapturedEvents, email: str, password: str
) -> None:
    """POST /register (one verification_requested), then /verify with its link's token."""
    sent = len(events.of("verification_requested"))
    answer = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert answer.status_code == 201, answer.text
    assert len(events.of("verification_requested")) == sent + 1
    token = link_token(events, "verification_requested")
    answer = await client.post("/api/auth/verify", json={"token": token})
    assert answer.status_code == 200, answer.text
