"""Replays refused: every message carries its time, plain ones expire, ``@run_once`` dedupes.

Each case runs :data:`deliver` through the Immediate backend, as a worker would; the
5 copies of one message are the issue's replay (#20, finding 5).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core import signing
from django.test import override_settings

from regstack_django.background import outbox
from regstack_django.checks import messages
from regstack_django.checks.registered import check_seconds_settings
from regstack_django.envelope import SALT, ExpiredMessage, UntrustedMessage, seal, unseal
from regstack_django.models import HandlerRun, OutboxEvent
from regstack_django.serialize import encode
from regstack_django.worker import deliver
from tests import hooks
from tests.background import once_hooks
from tests.background.test_worker_trust import USER, failed_with

PKG = settings.TASKS_PACKAGE
IMMEDIATE = {"default": {"BACKEND": f"{PKG}.backends.immediate.ImmediateBackend"}}
PLAIN = "tests.hooks.record_background"
ONCE = "tests.background.once_hooks.record_once"
FLAKY = "tests.background.once_hooks.flaky_once"
SLOW = "tests.background.once_hooks.slow_once"
WRITES = "tests.background.once_hooks.writes_then_fails"
HOOKS = {
    "user_registered": [
        {"handler": path, "background": True} for path in (PLAIN, ONCE, FLAKY, SLOW, WRITES)
    ]
}
DURABLE = {"background": True, "durable": True}
DAY = 86400


@pytest.fixture(autouse=True)
def _settings() -> Iterator[None]:
    hooks.reset()
    once_hooks.FAIL_NEXT.clear()
    with override_settings(TASKS=IMMEDIATE, REGSTACK_HOOKS=HOOKS):
        yield
    hooks.reset()


def payload(event_id: uuid.UUID | None = None) -> dict[str, Any]:
    base = encode("user_registered", object(), {})
    base["kwargs"] = {"user": dict(USER)}
    if event_id is not None:
        base["event_id"] = str(event_id)
    return base


def sealed_ago(seconds: float, handler: str = PLAIN, durable: bool = False, **kw: Any) -> str:
    """Seal a message as if ``seconds`` ago (the signer reads the clock through this module)."""
    clock = mock.Mock(time=mock.Mock(return_value=time.time() - seconds))
    with mock.patch.object(signing, "time", clock):
        return seal(handler, durable, payload(**kw))


def untimed(handler: str = PLAIN, durable: bool = False) -> str:
    """A message as the previous release sealed it: same key and salt, no time."""
    return signing.Signer(salt=SALT).sign_object(
        {"handler": handler, "durable": durable, "payload": payload()}
    )


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "regstack_django" and r.levelno == logging.ERROR
    ]


def test_every_message_carries_the_time_it_was_signed() -> None:
    before = int(time.time())
    opened = unseal(seal(PLAIN, False, payload()))
    assert before <= (opened.signed_at or 0) <= time.time()
    assert unseal(sealed_ago(4 * DAY)).signed_at == pytest.approx(time.time() - 4 * DAY, abs=2)


def test_a_plain_message_within_the_max_age_runs() -> None:
    result = deliver.enqueue(sealed_ago(2 * DAY))
    assert result.status == "SUCCESSFUL"
    assert [name for _, name, _ in hooks.CALLS] == ["record_background"]


def test_a_plain_message_older_than_the_max_age_runs_nothing_and_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="regstack_django")
    result = deliver.enqueue(sealed_ago(4 * DAY))
    text = failed_with(result, ExpiredMessage)
    assert hooks.CALLS == []
    assert "REGSTACK_MESSAGE_MAX_AGE (259200 s)" in text
    assert "signed 3456" in text  # 4 days = 345600 s, give or take the test's own second
    assert "possible replay, nothing was run" in text
    [logged] = refusals(caplog)
    assert "REGSTACK_MESSAGE_MAX_AGE" in logged
    assert isinstance(ExpiredMessage(""), UntrustedMessage)  # refused like a tampered one


def test_the_max_age_is_a_setting_read_live() -> None:
    with override_settings(REGSTACK_MESSAGE_MAX_AGE=5 * DAY):
        assert deliver.enqueue(sealed_ago(4 * DAY)).status == "SUCCESSFUL"
    with override_settings(REGSTACK_MESSAGE_MAX_AGE=60):
        assert deliver.enqueue(sealed_ago(120)).status == "FAILED"
    assert len(hooks.CALLS) == 1


@pytest.mark.parametrize("value", [0, -1, "3 days", True, float("inf"), 366 * DAY])
def test_an_invalid_max_age_is_reported_by_its_check(value: object) -> None:
    with override_settings(REGSTACK_MESSAGE_MAX_AGE=value):
        [found] = check_seconds_settings()
    assert found.id == messages.E032
    assert "REGSTACK_MESSAGE_MAX_AGE" in found.msg
    assert "REGSTACK_MESSAGE_MAX_AGE" in (found.hint or "")
    with override_settings(REGSTACK_MESSAGE_MAX_AGE=value):  # the default meanwhile
        assert deliver.enqueue(sealed_ago(2 * DAY)).status == "SUCCESSFUL"


@pytest.mark.django_db(transaction=True)
def test_a_durable_message_has_no_age_limit_its_row_runs_it_once() -> None:
    """A durable row may wait through a long outage; replays of it are dropped by the outbox."""
    event_id = uuid.uuid4()
    message = sealed_ago(30 * DAY, handler=PLAIN, durable=True, event_id=event_id)
    outbox.write("user_registered", PLAIN, str(event_id), message)
    with override_settings(REGSTACK_HOOKS={"user_registered": [{"handler": PLAIN, **DURABLE}]}):
        results = [deliver.enqueue(message) for _ in range(4)]
    assert [r.status for r in results] == ["SUCCESSFUL"] * 4
    assert len(hooks.CALLS) == 1
    assert OutboxEvent.objects.get().delivered_at is not None


def test_an_untimed_message_from_the_previous_release_runs_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="regstack_django")
    assert deliver.enqueue(untimed()).status == "SUCCESSFUL"
    assert len(hooks.CALLS) == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert "signed without a time by an earlier regstack_django" in text
    assert "cannot be refused" in text
    assert "drain the queue" in text
    assert unseal(untimed()).signed_at is None


def test_a_message_with_a_forged_time_is_refused() -> None:
    """The time is under the signature: moving it breaks the signature."""
    value, stamp, signature = seal(PLAIN, False, payload()).rsplit(":", 2)
    forged = f"{value}:{signing.b62_encode(signing.b62_decode(stamp) + DAY)}:{signature}"
    with pytest.raises(UntrustedMessage, match="signature does not match"):
        unseal(forged)
    assert failed_with(deliver.enqueue(forged), UntrustedMessage)
    assert hooks.CALLS == []


def test_a_key_rotation_without_fallbacks_is_reported_once_per_message_with_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="regstack_django")
    old = settings.SECRET_KEY
    queued = [seal(PLAIN, False, payload()) for _ in range(3)]
    with override_settings(SECRET_KEY="rotated-" + old, SECRET_KEY_FALLBACKS=[]):
        results = [deliver.enqueue(message) for message in queued]
    assert [r.status for r in results] == ["FAILED"] * 3
    assert hooks.CALLS == []
    logged = refusals(caplog)
    assert len(logged) == 3  # once per refused message
    for text in logged:
        assert "signature does not match" in text
        assert "put the old key in SECRET_KEY_FALLBACKS until the task queue" in text
    with override_settings(SECRET_KEY="rotated-" + old, SECRET_KEY_FALLBACKS=[old]):
        assert deliver.enqueue(queued[0]).status == "SUCCESSFUL"


@pytest.mark.django_db(transaction=True)
def test_without_the_helper_five_copies_of_one_plain_message_run_five_times() -> None:
    """The finding itself: a plain entry is at least once, so a copy runs again."""
    message = seal(PLAIN, False, payload())
    assert [deliver.enqueue(message).status for _ in range(5)] == ["SUCCESSFUL"] * 5
    assert len(hooks.CALLS) == 5


@pytest.mark.django_db(transaction=True)
def test_run_once_runs_a_handler_once_for_five_copies_of_one_message() -> None:
    message = seal(ONCE, False, payload())
    assert [deliver.enqueue(message).status for _ in range(5)] == ["SUCCESSFUL"] * 5
    [(_, name, kwargs)] = hooks.CALLS
    assert name == "record_once"
    [run] = HandlerRun.objects.all()
    assert (run.event_id, run.handler) == (kwargs["event_id"], ONCE)
    # Another event, or another handler of the same event, is not a copy.
    deliver.enqueue(seal(ONCE, False, payload()))
    deliver.enqueue(seal(FLAKY, False, payload(event_id=run.event_id)))
    assert [name for _, name, _ in hooks.CALLS] == ["record_once", "record_once", "flaky_once"]


@pytest.mark.django_db(transaction=True)
def test_run_once_releases_the_claim_when_the_handler_raises() -> None:
    message = seal(FLAKY, False, payload())
    once_hooks.FAIL_NEXT.set()
    first = deliver.enqueue(message)
    assert first.status == "FAILED"
    assert HandlerRun.objects.count() == 0  # released: a retry may run it
    assert [deliver.enqueue(message).status for _ in range(3)] == ["SUCCESSFUL"] * 3
    assert [name for _, name, _ in hooks.CALLS] == ["flaky_once"]
    assert HandlerRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_run_once_rolls_back_the_handlers_own_writes_with_the_claim() -> None:
    message = seal(WRITES, False, payload())
    assert deliver.enqueue(message).status == "FAILED"
    assert (HandlerRun.objects.count(), OutboxEvent.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_run_once_holds_for_concurrent_copies() -> None:
    """Five worker threads get the same message at once: one runs, four find the claim."""
    message = seal(SLOW, False, payload())
    statuses: list[str] = []
    start = threading.Barrier(5)

    def worker() -> None:
        from django.db import connection

        start.wait(timeout=10)
        try:
            statuses.append(deliver.enqueue(message).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert statuses == ["SUCCESSFUL"] * 5
    assert [name for _, name, _ in hooks.CALLS] == ["slow_once"]
    assert HandlerRun.objects.count() == 1


def test_run_once_refuses_an_async_handler() -> None:
    from regstack_django.once import run_once

    async def handler(sender: object, **kwargs: Any) -> None: ...

    with pytest.raises(TypeError, match="sync handler"):
        run_once(handler)
