"""A delivery is reported lost only when it is lost: a broker (or outbox write) slower than the
budget, and both sides counted: what arrived, and what the log says was lost (issue 19).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import override_settings

from regstack_django import HookRegistry
from regstack_django.background import outbox
from regstack_django.background.enqueue import ENQUEUE_THREADS
from regstack_django.models import OutboxEvent
from tests.brokers import socket_tasks

HANDLER = "tests.hooks.record_background"
BUDGET = 0.3
LATE = 0.6  # every answer comes this long after the enqueue started: always past the budget
SLACK = 1.0  # a busy 2-core machine
SETTLE = 30.0  # the most a test waits for every outcome to be reported
#: Answers in turn: two accepted, one refused.
PLAN = ("accept", "accept", "refuse")


class LateBroker:
    """A TCP broker on 127.0.0.1 that answers each enqueue ``LATE`` seconds after it arrives."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._seen = 0
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                answer = PLAN[self._seen % len(PLAN)]
                self._seen += 1
            thread = threading.Thread(target=self._answer, args=(conn, answer), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _answer(self, conn: socket.socket, answer: str) -> None:
        with conn:
            conn.settimeout(10)
            conn.recv(64)
            self._stopping.wait(LATE)
            if answer == "accept":
                conn.sendall(b"K")
                with self._lock:
                    self.accepted += 1
            else:
                with self._lock:
                    self.refused += 1

    def close(self) -> None:
        self._stopping.set()
        self.sock.close()
        for thread in [self._acceptor, *self._threads]:
            thread.join(5)


@pytest.fixture
def broker() -> Iterator[LateBroker]:
    late = LateBroker()
    yield late
    late.close()


def user(i: int) -> Any:
    base_user = pytest.importorskip("regstack.models.user").BaseUser
    return base_user(
        _id=f"64b0000000000000000{i:05d}", email=f"late{i}@example.com", hashed_password="h"
    )


def ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "regstack_django" and r.levelno == level]


def outcomes(caplog: pytest.LogCaptureFixture, expected: int) -> tuple[list[str], list[str]]:
    """Wait (bounded) until ``expected`` outcomes are logged; ``(late WARNINGs, ERRORs)``."""
    deadline = time.monotonic() + SETTLE
    while True:
        late = [r.getMessage() for r in ours(caplog, logging.WARNING)]
        errors = [r.getMessage() for r in ours(caplog, logging.ERROR)]
        if len(late) + len(errors) >= expected or time.monotonic() > deadline:
            return late, errors
        time.sleep(0.05)


def fire_from_a_route(registry: HookRegistry, waves: list[list[int]]) -> list[float]:
    """Fire ``user_registered`` as regstack's routes do (a plain event loop), wave by wave."""
    elapsed: list[float] = []
    users = {i: user(i) for wave in waves for i in wave}

    async def one(i: int) -> None:
        started = time.monotonic()
        await registry.fire("user_registered", user=users[i])
        elapsed.append(time.monotonic() - started)

    async def load() -> None:
        for wave in waves:
            await asyncio.gather(*(one(i) for i in wave))

    runner = threading.Thread(target=lambda: asyncio.run(load()))
    runner.start()
    runner.join(60)
    return elapsed


#: Pairs of fires a little apart (threads free up and fill again), then a burst that holds every
#: enqueue thread, so that some enqueues never start within their budget.
WAVES = [[2 * w, 2 * w + 1] for w in range(6)] + [list(range(12, 12 + 2 * ENQUEUE_THREADS))]
FIRES = sum(len(wave) for wave in WAVES)


def test_a_late_broker_is_reported_late_and_only_real_losses_as_lost(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, broker: LateBroker
) -> None:
    hooks = {"user_registered": [{"handler": HANDLER, "background": True}]}
    with override_settings(
        TASKS=socket_tasks(broker.port),
        REGSTACK_HOOKS=hooks,
        REGSTACK_HOOKS_ENQUEUE_TIMEOUT=BUDGET,
    ):
        elapsed = fire_from_a_route(registry, WAVES)
        late, errors = outcomes(caplog, FIRES)
    assert len(elapsed) == FIRES
    assert max(elapsed) < BUDGET + SLACK, "a fire waited past its budget"
    arrived = broker.accepted
    never = sum("did not start" in e for e in errors)
    print(f"{FIRES} fires: {arrived} late, {broker.refused} refused late, {never} unstarted")
    # Every fire is reported once, and the losses are exactly the deliveries that never arrived.
    assert len(late) + len(errors) == FIRES
    assert len(errors) == FIRES - arrived
    assert len(late) == arrived
    assert all("this delivery is lost" in e and HANDLER in e for e in errors)
    assert all("enqueued late" in w and HANDLER in w for w in late)
    assert all("REGSTACK_HOOKS_ENQUEUE_TIMEOUT" in w for w in late)
    # All three outcomes happened: late and done, late and refused, never started.
    assert arrived >= 1
    assert broker.refused >= 1
    assert never >= ENQUEUE_THREADS
    assert never + broker.refused == len(errors)


def slow_outbox_write(real: Callable[..., None]) -> Callable[..., None]:
    """``outbox.write`` that takes ``LATE`` seconds, then writes, or fails as in :data:`PLAN`."""
    lock = threading.Lock()
    seen = [0]

    def write(*args: Any) -> None:
        with lock:
            answer = PLAN[seen[0] % len(PLAN)]
            seen[0] += 1
        time.sleep(LATE)
        if answer == "refuse":
            raise DatabaseError("could not write the outbox row (a stand-in for a lost database)")
        real(*args)

    return write


@pytest.mark.django_db(transaction=True)
def test_a_late_outbox_write_is_late_and_the_relay_has_its_row(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = {"user_registered": [{"handler": HANDLER, "background": True, "durable": True}]}
    monkeypatch.setattr(outbox, "write", slow_outbox_write(outbox.write))
    with override_settings(REGSTACK_HOOKS=hooks, REGSTACK_HOOKS_ENQUEUE_TIMEOUT=BUDGET):
        elapsed = fire_from_a_route(registry, WAVES)
        late, errors = outcomes(caplog, FIRES)
    rows = OutboxEvent.objects.count()
    assert len(elapsed) == FIRES
    assert max(elapsed) < BUDGET + SLACK, "a fire waited past its budget"
    assert len(late) + len(errors) == FIRES
    assert len(errors) == FIRES - rows
    assert len(late) == rows >= 1
    assert all("the relay hands it out as usual" in w for w in late)
    assert all("the relay has nothing to hand out; this delivery is lost" in e for e in errors)
    assert sum("did not start" in e for e in errors) >= ENQUEUE_THREADS
