"""What ``SecretsFilter`` costs per log record: ``python -m benchmarks.secrets_filter``.

Thread CPU time per record through a ``StreamHandler``, with and without the filter, before any
secret event fired and with the recent-token set full.
"""

from __future__ import annotations

import argparse
import gc
import io
import logging
import secrets as random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from regstack_django import secrets
from regstack_django.logging import SecretsFilter

HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
)
TOKEN = random.token_urlsafe(32)

try:
    raise ValueError("no such row")
except ValueError:
    CLEAN_EXC = sys.exc_info()

Maker = Callable[[], logging.LogRecord]


def _record(name: str, msg: str, args: Any = None, exc: Any = None) -> Maker:
    def make() -> logging.LogRecord:
        return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc)

    return make


KINDS: dict[str, Maker] = {
    "clean line, no args": _record("app", "user signed in"),
    "uvicorn access line (clean)": _record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/auth/me", "1.1", 200),
    ),
    "uvicorn access line with code/state": _record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            f"/api/auth/oauth/google/callback?code={TOKEN}&state={TOKEN[::-1]}",
            "1.1",
            302,
        ),
    ),
    "SQLAlchemy INFO params with a hash": _record(
        "sqlalchemy.engine.Engine",
        "[%s] %r",
        ("generated in 0.0004s", ("alice@example.com", HASH, 1, 0, "2026-12-01 09:00:00")),
    ),
    "regstack console e-mail body": _record(
        "regstack.email.console",
        "[regstack/console-email] text body:\n%s",
        (f"Hi,\n\nConfirm: http://127.0.0.1:8000/verify?token={TOKEN}\n\nThanks",),
    ),
    "record with a clean traceback": _record("app", "lookup failed", None, CLEAN_EXC),
}


def _handler(with_filter: bool) -> logging.Handler:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    if with_filter:
        handler.addFilter(SecretsFilter())
    return handler


def _batch(handler: logging.Handler, make: Maker, n: int) -> float:
    records = [make() for _ in range(n)]
    start = time.thread_time_ns()
    for record in records:
        handler.handle(record)
    return (time.thread_time_ns() - start) / n


def measure(make: Maker, *, rounds: int = 31, n: int = 300) -> tuple[float, float]:
    """``(without, with)`` median nanoseconds per record through a formatting handler."""
    plain, filtered = _handler(False), _handler(True)
    for handler in (plain, filtered):
        _batch(handler, make, n)  # warm-up
    times: dict[bool, list[float]] = {False: [], True: []}
    gc.disable()
    try:
        for i in range(rounds):
            order = (False, True) if i % 2 else (True, False)
            for with_filter in order:
                times[with_filter].append(_batch(filtered if with_filter else plain, make, n))
            for handler in (plain, filtered):
                stream = handler.stream  # type: ignore[attr-defined]
                stream.seek(0)
                stream.truncate()
    finally:
        gc.enable()
    return statistics.median(times[False]), statistics.median(times[True])


def _fill_recent() -> None:
    for _ in range(secrets.recent.maxlen or 256):
        token = random.token_urlsafe(32)
        secrets.guard(
            {
                "url": f"http://127.0.0.1:8000/verify?token={token}",
                "url_without_token": "http://127.0.0.1:8000/verify?token=[REDACTED]",
            }
        )
    SecretsFilter().filter(KINDS["clean line, no args"]())  # build the index once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.secrets_filter")
    parser.add_argument("--smoke", action="store_true", help="three short rounds per record kind")
    rounds, n = (3, 20) if parser.parse_args(argv).smoke else (31, 300)
    print(
        f"Python {sys.version.split()[0]}; CPU time per record through a StreamHandler "
        "with a Formatter"
    )
    print("| record | no filter (µs) | SecretsFilter (µs) | filter cost (µs) | recent tokens |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, fill in (("0", None), ("256", _fill_recent)):
        if fill is not None:
            fill()
        for kind, make in KINDS.items():
            without, with_ = measure(make, rounds=rounds, n=n)
            print(
                f"| {kind} | {without / 1000:.2f} | {with_ / 1000:.2f} | "
                f"{(with_ - without) / 1000:+.2f} | {label} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
