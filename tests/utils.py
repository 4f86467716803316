"""Small helpers shared by the test modules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.dispatch import Signal

from regstack_django.signals import signal_for


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
