"""A failing receiver is logged once, named, never leaks a value, never stops the others."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest

from regstack_django import HookRegistry, signals
from regstack_django.failures import RedactedReceiverError, receiver_name
from tests.utils import bridge_errors, connected, every_logged_text

TOKEN_URL = "https://example.com/reset?token=s3cr3t-single-use-token"


def broken(sender: object, **kwargs: Any) -> None:
    raise ValueError("broken receiver")


async def broken_async(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(0)
    raise ValueError("broken async receiver")


class CallableReceiver:
    def __call__(self, sender: object, **kwargs: Any) -> None:
        raise KeyError("callable object")


def leaks_url(sender: object, url: str, **kwargs: Any) -> None:
    raise ValueError(f"could not send {url}")


def leaks_url_in_cause(sender: object, url: str, **kwargs: Any) -> None:
    try:
        raise ConnectionError(f"smtp refused {url}")
    except ConnectionError as exc:
        raise RuntimeError("mail failed") from exc


@pytest.fixture
def failures() -> Any:
    """What receiver_failed received."""
    got: list[dict[str, Any]] = []

    def on_failure(sender: object, **kwargs: Any) -> None:
        got.append({"sender": sender, **kwargs})

    with connected(signals.receiver_failed, on_failure):
        yield got


def _ran(log: list[str], name: str) -> Any:
    def receiver(sender: object, **kwargs: Any) -> None:
        log.append(name)

    return receiver


@pytest.mark.parametrize("fire", ["sync", "async"])
@pytest.mark.parametrize("failing", [broken, broken_async], ids=["sync", "async"])
async def test_a_failing_receiver_is_logged_once_and_the_others_still_run(
    registry: HookRegistry,
    caplog: pytest.LogCaptureFixture,
    failures: list[dict[str, Any]],
    fire: str,
    failing: Any,
) -> None:
    log: list[str] = []

    async def after_async(sender: object, **kwargs: Any) -> None:
        log.append("async after")

    caplog.set_level(logging.DEBUG)
    with connected(
        signals.user_logged_in, _ran(log, "before"), failing, _ran(log, "after"), after_async
    ):
        if fire == "sync":
            result = await asyncio.to_thread(registry.fire_sync, "user_logged_in", user="u")
        else:
            result = await registry.fire("user_logged_in", user="u")
    assert result is None
    assert sorted(log) == ["after", "async after", "before"]
    [record] = bridge_errors(caplog)
    name = f"tests.dispatch.test_failures.{failing.__name__}"
    assert record.getMessage() == f"Receiver {name} failed on regstack event 'user_logged_in'."
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    # Django's own failure line is not written: the bridge owns the loop.
    assert not [r for r in caplog.records if r.name == "django.dispatch"]
    assert failures == [
        {
            "sender": registry,
            "signal": signals.receiver_failed,
            "event": "user_logged_in",
            "receiver": name,
            "exception": record.exc_info[1],
        }
    ]


def test_partial_and_callable_objects_are_named_and_logged(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    partial = functools.partial(broken, extra=1)
    with connected(signals.user_logged_in, partial, CallableReceiver()):
        registry.fire_sync("user_logged_in", user="u")
    names = [r.regstack_receiver for r in bridge_errors(caplog)]  # type: ignore[attr-defined]
    assert names == [
        "functools.partial(tests.dispatch.test_failures.broken)",
        "tests.dispatch.test_failures.CallableReceiver",
    ]


def test_receiver_name_handles_methods_and_nested_partials() -> None:
    class Thing:
        def method(self) -> None: ...

    assert receiver_name(Thing().method).endswith("Thing.method")
    # Python flattens a partial of a partial; the name still reaches the function.
    nested = functools.partial(functools.partial(broken), extra=2)
    assert receiver_name(nested) == "functools.partial(tests.dispatch.test_failures.broken)"


@pytest.mark.parametrize("receiver", [leaks_url, leaks_url_in_cause])
async def test_no_live_token_reaches_any_log_record(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture, receiver: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    with connected(signals.password_reset_requested, receiver):
        await registry.fire(
            "password_reset_requested",
            user="u",
            url=TOKEN_URL,
            url_without_token="https://example.com/reset?token=[REDACTED]",
        )
        registry_sync = asyncio.to_thread(
            registry.fire_sync,
            "password_reset_requested",
            user="u",
            url=TOKEN_URL,
            url_without_token="x",
        )
        await registry_sync
    records = bridge_errors(caplog)
    assert len(records) == 2
    text = every_logged_text(caplog)
    assert "s3cr3t-single-use-token" not in text
    assert "[REDACTED]" in text
    for record in records:
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RedactedReceiverError)
        # the stand-in keeps the original type's name and the traceback
        assert "builtins." in str(record.exc_info[1])
        assert record.exc_info[2] is not None


def test_a_password_hash_in_an_exception_message_is_redacted(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    class User:
        email = "a@example.com"
        hashed_password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"

    def leaks_user(sender: object, user: User, **kwargs: Any) -> None:
        raise ValueError(f"bad user {user.hashed_password}")

    with connected(signals.user_registered, leaks_user):
        registry.fire_sync("user_registered", user=User())
    assert "$argon2id$" not in every_logged_text(caplog)
    assert len(bridge_errors(caplog)) == 1


def test_a_failing_receiver_failed_receiver_is_logged_and_not_sent_again(
    registry: HookRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def failing_reporter(sender: object, **kwargs: Any) -> None:
        calls.append(kwargs["receiver"])
        raise RuntimeError("reporter broke")

    with (
        connected(signals.receiver_failed, failing_reporter),
        connected(signals.user_logged_in, broken),
    ):
        registry.fire_sync("user_logged_in", user="u")
    assert calls == ["tests.dispatch.test_failures.broken"]
    messages = [r.getMessage() for r in bridge_errors(caplog)]
    assert messages == [
        "Receiver tests.dispatch.test_failures.broken failed on regstack event 'user_logged_in'.",
        "Receiver tests.dispatch.test_failures.test_a_failing_receiver_failed_receiver_is_logged_"
        "and_not_sent_again.<locals>.failing_reporter failed on regstack event 'receiver_failed'.",
    ]


@pytest.mark.usefixtures("regstack_fail_loud")
@pytest.mark.parametrize("fire", ["sync", "async"])
async def test_fail_loud_raises_after_every_receiver_ran(registry: HookRegistry, fire: str) -> None:
    log: list[str] = []
    with (
        connected(signals.user_logged_in, broken, _ran(log, "after"), broken_async),
        pytest.raises(ExceptionGroup) as raised,
    ):
        if fire == "sync":
            await asyncio.to_thread(registry.fire_sync, "user_logged_in", user="u")
        else:
            await registry.fire("user_logged_in", user="u")
    assert log == ["after"]
    assert "tests.dispatch.test_failures.broken" in str(raised.value)
    assert "tests.dispatch.test_failures.broken_async" in str(raised.value)
    assert len(raised.value.exceptions) == 2
