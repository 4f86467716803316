"""The HTTP load of the trials: lanes of regstack password-reset flows, and what got accepted.

Accepted: the route answered 202; fired: regstack e-mailed the link (the server's e-mail log).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from support.faults.processes import API

PASSWORD = "faults-password-1"
_MAIL = re.compile(r"To: (?P<to>\S+) \|.*?https?://\S+\?token=(?P<token>[A-Za-z0-9._~%-]+)", re.S)
_LANE_IDS = itertools.count(1)


def mailed_tokens(server_log: str) -> dict[str, list[str]]:
    """Each address's e-mailed tokens, in the order the server sent them."""
    found: dict[str, list[str]] = {}
    for match in _MAIL.finditer(server_log):
        found.setdefault(match["to"], []).append(match["token"])
    return found


@dataclass
class Lane:
    """One user's sequential requests; ``accepted`` is how many resets were answered."""

    base_url: str
    tag: str
    email: str = ""
    accepted: int = 0
    error: str = ""
    registered: bool = False
    #: Called after each accepted reset with the lane (the web-kill trials stop the server here).
    on_accept: Callable[[Lane], None] | None = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.email = f"{self.tag}-{next(_LANE_IDS)}@faults.example.com"

    def run(self, stop: threading.Event, interval: float, limit: int) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                response = client.post(
                    f"{API}/register", json={"email": self.email, "password": PASSWORD}
                )
                if response.status_code != 201:
                    self.error = f"register: {response.status_code} {response.text[:200]}"
                    return
                self.registered = True
                while not stop.is_set() and self.accepted < limit:
                    started = time.monotonic()
                    response = client.post(f"{API}/forgot-password", json={"email": self.email})
                    if response.status_code != 202:
                        self.error = f"forgot-password: {response.status_code}"
                        return
                    self.accepted += 1
                    if self.on_accept is not None:
                        self.on_accept(self)
                    stop.wait(max(0.0, interval - (time.monotonic() - started)))
        except httpx.TransportError as exc:  # the server died (the web-kill trials)
            self.error = f"{type(exc).__name__}"


@dataclass
class Load:
    """``lanes`` lanes against ``base_url``, each at most one reset per ``interval`` s."""

    base_url: str
    tag: str
    lanes: int = 2
    interval: float = 0.1
    limit: int = 100_000
    on_accept: Callable[[Lane], None] | None = None
    started: list[Lane] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Load:
        for _ in range(self.lanes):
            lane = Lane(self.base_url, self.tag, on_accept=self.on_accept)
            lane.thread = threading.Thread(
                target=lane.run, args=(self._stop, self.interval, self.limit), daemon=True
            )
            self.started.append(lane)
            lane.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.join(timeout)

    def join(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for lane in self.started:
            if lane.thread is not None:
                lane.thread.join(max(0.1, deadline - time.monotonic()))

    def accepted(self) -> int:
        return sum(lane.accepted for lane in self.started)

    def errors(self) -> list[str]:
        return [lane.error for lane in self.started if lane.error]


@contextlib.contextmanager
def running(load: Load):  # type: ignore[no-untyped-def]
    """Start ``load``; stop its lanes on the way out (errors or not)."""
    load.start()
    try:
        yield load
    finally:
        load.stop()
