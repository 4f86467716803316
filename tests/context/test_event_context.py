"""``EventContext``: its JSON form, and the signed message's ``meta`` that carries it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from regstack_django import EventContext
from regstack_django.context import current_context, request_context
from regstack_django.envelope import SALT, UntrustedMessage, seal, unseal

FULL = EventContext(
    client_ip="203.0.113.7",
    user_agent="curl/8.5",
    request_id="req-1",
    method="POST",
    path="/api/auth/login",
)


def test_the_context_is_frozen_and_round_trips_through_json() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.client_ip = "10.0.0.1"  # type: ignore[misc]
    data = json.loads(json.dumps(FULL.as_dict()))
    assert data["v"] == 1
    assert EventContext.from_dict(data) == FULL
    assert EventContext.from_dict(EventContext().as_dict()) == EventContext()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({**FULL.as_dict(), "v": 99}, "versions"),
        ({k: v for k, v in FULL.as_dict().items() if k != "v"}, "versions"),
        ({**FULL.as_dict(), "v": True}, "versions"),
        ({**FULL.as_dict(), "password": "x"}, "unexpected keys ['password']"),
        ({**FULL.as_dict(), "client_ip": 7}, "['client_ip'] must be strings"),
        (["not", "a", "dict"], "JSON object"),
    ],
)
def test_from_dict_refuses_what_as_dict_never_writes(data: object, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        EventContext.from_dict(data)  # type: ignore[arg-type]


def test_the_current_context_is_none_outside_a_request_and_scoped_inside() -> None:
    assert current_context() is None
    with request_context(FULL):
        assert current_context() is FULL
    assert current_context() is None


def test_meta_is_signed_with_the_message_and_optional() -> None:
    payload = {"event": "user_logged_in"}
    with_meta = unseal(seal("a.b", False, payload, {"context": FULL.as_dict()}))
    assert with_meta.meta == {"context": FULL.as_dict()}
    without = unseal(seal("a.b", False, payload))
    assert without.meta == {}
    assert without.payload == payload


def test_a_message_with_a_forged_meta_shape_is_refused() -> None:
    from django.core import signing

    forged = signing.TimestampSigner(salt=SALT).sign_object(
        {"handler": "a.b", "durable": False, "payload": {}, "meta": ["x"]}
    )
    with pytest.raises(UntrustedMessage, match="wrong shape"):
        unseal(forged)
    extra = signing.TimestampSigner(salt=SALT).sign_object(
        {"handler": "a.b", "durable": False, "payload": {}, "other": {}}
    )
    with pytest.raises(UntrustedMessage, match="wrong shape"):
        unseal(extra)
