"""Tokens regstack would refuse give ``AnonymousUser``: no 500, no reason, nothing logged."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import httpx
import jwt
import pytest
from django.contrib.auth import get_user_model
from regstack.auth.clock import SystemClock
from regstack.auth.jwt import JwtCodec
from regstack.config.schema import RegStackConfig
from regstack.config.secrets import derive_secret

from regstack_django.auth import linking
from regstack_django.hosting.instance import get_regstack
from regstack_django.models import RegStackIdentity
from regstack_django.testing import CapturedEvents
from tests.auth.conftest import bearer, sign_up

pytestmark = pytest.mark.usefixtures("transactional_db")


def refused_tokens(good: str) -> dict[str, str]:
    """Every kind of bad token, for the user ``good`` belongs to."""
    regstack = get_regstack()
    claims = jwt.decode(good, options={"verify_signature": False})
    other = RegStackConfig(jwt_secret="another-regstack-instance-secret-0123456789")
    expired, _ = regstack.jwt.encode(claims["sub"], ttl_seconds=-60)
    reset, _ = regstack.jwt.encode(claims["sub"], purpose="password_reset")
    header, payload, signature = good.split(".")
    return {
        "wrong key": jwt.encode(claims, derive_secret("x" * 40, "session"), algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "expired": expired,
        "other purpose": reset,
        "other instance": JwtCodec(other, SystemClock()).encode(claims["sub"])[0],
        "tampered": f"{header}.{payload}x.{signature}",
        "garbage": "not-a-token",
    }


async def test_refused_tokens_give_an_anonymous_user_and_log_nothing(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = await sign_up(regstack_client, regstack_events, "mallory@example.com")
    caplog.set_level(logging.DEBUG)
    for kind, token in refused_tokens(good).items():
        answer = await regstack_client.get("/me/", headers=bearer(token))
        assert (answer.status_code, answer.text) == (200, "anonymous"), kind
        answer = await regstack_client.get("/ame/", headers=bearer(token))
        assert (answer.status_code, answer.text) == (200, "anonymous"), kind
        answer = await regstack_client.get("/private/", headers=bearer(token))
        assert answer.status_code == 302, kind
        # regstack's own route refuses it too: the same checks.
        answer = await regstack_client.get("/api/auth/me", headers=bearer(token))
        assert answer.status_code == 401, kind
        assert not [r for r in caplog.records if token in r.getMessage() + str(r.args)], kind
    assert (await regstack_client.get("/me/", headers=bearer(good))).text == "mallory@example.com"


async def test_a_malformed_header_keeps_the_session_user(
    regstack_client: httpx.AsyncClient,
) -> None:
    for header in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer   "):
        answer = await regstack_client.get("/me/", headers={"Authorization": header})
        assert (answer.status_code, answer.text) == (200, "anonymous")


def test_two_concurrent_first_requests_make_one_user() -> None:
    regstack_user = SimpleNamespace(id="6f1c", email="race@example.com", is_active=True)
    barrier = threading.Barrier(8)
    found: list[object] = []

    def first_request() -> None:
        barrier.wait(timeout=10)
        found.append(linking.user_for(regstack_user))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(found) == 8
    assert {getattr(user, "pk", None) for user in found} == {RegStackIdentity.objects.get().user_id}
    assert get_user_model().objects.count() == 1


def test_a_taken_username_is_never_linked_by_itself(caplog: pytest.LogCaptureFixture) -> None:
    get_user_model().objects.create(username="owner@example.com", email="owner@example.com")
    regstack_user = SimpleNamespace(id="77aa", email="owner@example.com", is_active=True)
    assert linking.user_for(regstack_user) is None
    assert not RegStackIdentity.objects.exists()
    assert "77aa not linked" in caplog.text
