"""The DRF class (on the leg with DRF), and REGSTACK_DJANGO_USERS's checks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import override_settings

from regstack_django.checks.registered import check_users_setting
from regstack_django.testing import CapturedEvents
from tests.auth.conftest import MIDDLEWARE, bearer, sign_up


@pytest.mark.usefixtures("transactional_db")
async def test_the_drf_class_authenticates_the_same_user(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    pytest.importorskip("rest_framework")
    token = await sign_up(regstack_client, regstack_events, "drf@example.com")
    answer = await regstack_client.get("/drf/me/", headers=bearer(token))
    assert answer.json() == {"email": "drf@example.com", "regstack": "drf@example.com"}
    answer = await regstack_client.get("/drf/me/", headers=bearer(token + "x"))
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Invalid or expired token."}
    assert answer.headers["www-authenticate"] == "Bearer"


def ids(**overrides: Any) -> list[str]:
    with override_settings(**overrides):
        return [m.id for m in check_users_setting()]  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        {"creat": True},
        {"create": "yes"},
        {"username": "name"},
        {"on_delete": "keep"},
        {"flags": {"is_admin": ["is_staff"]}},
        {"flags": {"is_superuser": ["is_owner"]}},
        {"cache_seconds": -1},
        {"cache_seconds": float("nan")},
        {"email": 1},
        {"cache": "no-such-alias"},
        {"cache": 3},
        {"sessions": "yes"},
    ],
)
def test_a_wrong_users_setting_is_e040_naming_it(value: object) -> None:
    with override_settings(REGSTACK_DJANGO_USERS=value):
        (message,) = check_users_setting()  # type: ignore[misc]
    assert message.id == "regstack_django.E040"
    assert "REGSTACK_DJANGO_USERS" in message.msg


def test_good_settings_pass() -> None:
    good = {"flags": {"is_superuser": ["is_staff", "is_superuser"]}, "on_delete": "delete"}
    assert ids(REGSTACK_DJANGO_USERS=good) == []


def test_sessions_without_the_middleware_or_the_backend_are_e040() -> None:
    with override_settings(REGSTACK_DJANGO_USERS={"sessions": True}, MIDDLEWARE=MIDDLEWARE[:2]):
        (message,) = check_users_setting()  # type: ignore[misc]
    assert message.id == "regstack_django.E040"
    assert "closes revoked sessions" in message.msg
    settings = {"sessions": True, "cache": "default"}
    with override_settings(REGSTACK_DJANGO_USERS=settings, AUTHENTICATION_BACKENDS=[]):
        (message,) = check_users_setting()  # type: ignore[misc]
    assert "AUTHENTICATION_BACKENDS lacks" in message.msg


def test_a_flag_the_user_model_lacks_is_e041() -> None:
    with override_settings(AUTH_USER_MODEL="testapp.EmailUser"):
        found = ids(REGSTACK_DJANGO_USERS={"flags": {"is_superuser": ["is_superuser"]}})
    assert found == ["regstack_django.E041"]


def test_the_middleware_before_djangos_is_w040() -> None:
    assert ids(MIDDLEWARE=[MIDDLEWARE[0], MIDDLEWARE[2], MIDDLEWARE[1]]) == ["regstack_django.W040"]


def test_the_checks_are_registered() -> None:
    call_command("check")
