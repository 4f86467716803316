"""A background enqueue never breaks or holds the caller (issue 13 item 5, issue 14 item 5).

Brokers here are real sockets on 127.0.0.1 (tests/brokers.py): a port where
nothing listens (a broker that refuses) and a server that accepts and never
answers (a frozen broker; its loss is reported when it gives up). On the Django 6.x legs
the same is tried with django-tasks-redis, whose socket timeout is unbounded by default.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from regstack_django import HookRegistry
from support.net import free_port
from tests.brokers import SilentServer, socket_tasks
from tests.utils import bridge_errors

HANDLER = "tests.hooks.record_background"
HOOKS = {"user_registered": [{"handler": HANDLER, "background": True}]}
BUDGET = 0.3
SLACK = 1.0  # a busy 2-core machine; the frozen broker itself would hold for 60 s
HAS_REDIS_BACKEND = importlib.util.find_spec("django_tasks_redis") is not None


def redis_tasks(port: int) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "QUEUES": [],
            "OPTIONS": {"REDIS_URL": f"redis://127.0.0.1:{port}/0"},
        }
    }


BACKENDS = [
    pytest.param(socket_tasks, id="socket"),
    pytest.param(
        redis_tasks,
        id="django-tasks-redis",
        marks=pytest.mark.skipif(not HAS_REDIS_BACKEND, reason="django-tasks-redis (6.x legs)"),
    ),
]


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


def the_error(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    [record] = bridge_errors(caplog)
    text = record.getMessage()
    assert "'user_registered'" in text
    assert HANDLER in text
    return record


def the_loss(caplog: pytest.LogCaptureFixture, silent: SilentServer) -> logging.LogRecord:
    """The ERROR once the frozen broker gives up; none before, while the enqueue may succeed."""
    assert not bridge_errors(caplog), "reported lost while the enqueue could still succeed"
    silent.close()  # the broker ends the connection: now the delivery is lost
    deadline = time.monotonic() + 10
    while not bridge_errors(caplog) and time.monotonic() < deadline:
        time.sleep(0.05)
    record = the_error(caplog)
    assert "this delivery is lost" in record.getMessage()
    assert "REGSTACK_HOOKS_ENQUEUE_TIMEOUT" in record.getMessage()
    return record


def user() -> Any:
    base_user = pytest.importorskip("regstack.models.user").BaseUser
    return base_user(_id="64b000000000000000000003", email="dan@example.com", hashed_password="h")


# -- a broker that refuses, inside atomic() --------------------------------------------------------


@pytest.mark.parametrize("tasks", BACKENDS)
@pytest.mark.django_db(transaction=True)
def test_a_refusing_broker_inside_atomic_never_breaks_the_caller(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, tasks: Any
) -> None:
    later: list[str] = []
    with override_settings(TASKS=tasks(free_port()), REGSTACK_HOOKS=HOOKS):
        with transaction.atomic():  # no exception escapes the commit
            registry.fire_sync("user_registered", user=user())
            transaction.on_commit(lambda: later.append("the project's own callback"))
        assert later == ["the project's own callback"]
    record = the_error(caplog)
    assert "after the commit" in record.getMessage()
    assert "dan@example.com" not in caplog.text


# -- a broker that never answers ---------------------------------------------------------------


@pytest.mark.parametrize("tasks", BACKENDS)
def test_a_frozen_broker_costs_a_routes_fire_at_most_the_budget(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, silent: SilentServer, tasks: Any
) -> None:
    """From a plain event loop, as regstack's routes fire."""
    elapsed: list[float] = []
    with override_settings(
        TASKS=tasks(silent.port), REGSTACK_HOOKS=HOOKS, REGSTACK_HOOKS_ENQUEUE_TIMEOUT=BUDGET
    ):

        def route() -> None:
            async def fire() -> None:
                started = time.monotonic()
                await registry.fire("user_registered", user=user())
                elapsed.append(time.monotonic() - started)

            asyncio.run(fire())

        runner = threading.Thread(target=route)
        runner.start()
        runner.join(30)
    assert len(elapsed) == 1
    assert BUDGET * 0.9 <= elapsed[0] < BUDGET + SLACK
    record = the_loss(caplog, silent)
    assert record.exc_info is not None


def test_a_frozen_broker_costs_fire_sync_at_most_the_budget(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, silent: SilentServer
) -> None:
    with override_settings(
        TASKS=socket_tasks(silent.port),
        REGSTACK_HOOKS=HOOKS,
        REGSTACK_HOOKS_ENQUEUE_TIMEOUT=BUDGET,
    ):
        started = time.monotonic()
        registry.fire_sync("user_registered", user=user())
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + SLACK
    the_loss(caplog, silent)


@pytest.mark.django_db(transaction=True)
def test_a_frozen_broker_on_commit_holds_the_commit_at_most_the_budget(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, silent: SilentServer
) -> None:
    later: list[str] = []
    with override_settings(
        TASKS=socket_tasks(silent.port),
        REGSTACK_HOOKS=HOOKS,
        REGSTACK_HOOKS_ENQUEUE_TIMEOUT=BUDGET,
    ):
        started = time.monotonic()
        with transaction.atomic():
            registry.fire_sync("user_registered", user=user())
            transaction.on_commit(lambda: later.append("ran"))
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + SLACK
    assert later == ["ran"]
    the_loss(caplog, silent)


def test_enqueues_do_not_wait_behind_a_slow_sync_receiver(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """The enqueue thread is the bridge's own: a receiver hogging the hop does not delay it."""
    from regstack_django import signals
    from tests.utils import connected

    enqueued_at: list[float] = []
    release = threading.Event()

    def slow(sender: object, **kwargs: Any) -> None:
        release.wait(5)

    from regstack_django.background.tasks_compat import tasks_module

    backend_class = type(tasks_module().task_backends["default"])  # type: ignore[union-attr]
    real = backend_class.enqueue

    def spy(self: Any, *args: Any) -> Any:
        enqueued_at.append(time.monotonic())
        release.set()
        return real(self, *args)

    with (
        override_settings(REGSTACK_HOOKS=HOOKS),
        connected(signals.user_registered, slow),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(backend_class, "enqueue", spy)

        def route() -> None:
            asyncio.run(registry.fire("user_registered", user=user()))

        started = time.monotonic()
        runner = threading.Thread(target=route)
        runner.start()
        runner.join(30)
    assert len(enqueued_at) == 1
    assert enqueued_at[0] - started < 2.5, "the enqueue waited for the slow receiver"
