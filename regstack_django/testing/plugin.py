"""pytest fixtures for projects that use regstack_django (the ``pytest11`` entry point).

pytest imports this module before pytest-django configures settings: each fixture
imports what needs them. The fixtures are listed in docs/testing.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from regstack_django.testing import CapturedEvents

try:  # an async fixture needs pytest-asyncio's decorator in its strict mode
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - anyio's plugin runs plain async fixtures
    async_fixture = pytest.fixture  # type: ignore[assignment]


@pytest.fixture
def regstack_events() -> Iterator[CapturedEvents]:
    """Every regstack event fired during the test, in order."""
    from regstack_django.testing import capture_events

    with capture_events() as captured:
        yield captured


@pytest.fixture
def regstack_fail_loud() -> Iterator[None]:
    """Make any receiver failure raise out of the fire for this test."""
    from django.test import override_settings

    from regstack_django.conf import RAISE_ERRORS_SETTING

    with override_settings(**{RAISE_ERRORS_SETTING: True}):
        yield


@pytest.fixture
def regstack_database_url(tmp_path: Path) -> str:
    """A fresh SQLite database for this test's regstack (a file in ``tmp_path``)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'regstack.sqlite3'}?timeout=30"


@pytest.fixture
def regstack_instance(regstack_database_url: str) -> Iterator[Any]:
    """A new attached RegStack, configured as settings say, on this test's database."""
    from regstack_django.hosting.instance import build_on, using

    with using(build_on(regstack_database_url)) as regstack:
        yield regstack


@async_fixture
async def regstack_client(regstack_instance: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the whole site (``http://testserver``, lifespan run)."""
    import httpx
    from django.core.handlers.asgi import ASGIHandler

    from regstack_django.asgi import build_site

    app = build_site(regstack_instance, ASGIHandler(), static=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@async_fixture
async def regstack_user_client(regstack_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``regstack_client`` signed in as a new verified user (``user@example.com``).

    Registered and logged in over regstack's routes; its ``Authorization`` header holds
    the token. ``client.regstack_user`` is regstack's user (docs/users.md).
    """
    from regstack_django.hosting.instance import get_regstack

    regstack = get_regstack()
    email, password = "user@example.com", "a-long-enough-password-1"
    prefix = regstack.config.api_prefix.rstrip("/")
    if regstack.config.require_verification:
        await regstack.users.create(_verified_user(email, regstack.password_hasher.hash(password)))
    else:
        answer = await regstack_client.post(
            f"{prefix}/register", json={"email": email, "password": password}
        )
        answer.raise_for_status()
    answer = await regstack_client.post(
        f"{prefix}/login", json={"email": email, "password": password}
    )
    answer.raise_for_status()
    regstack_client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    regstack_client.regstack_user = await regstack.users.get_by_email(email)  # type: ignore[attr-defined]
    return regstack_client


def _verified_user(email: str, hashed: str) -> Any:
    from regstack.models.user import BaseUser

    return BaseUser(email=email, hashed_password=hashed, is_verified=True)


@pytest.fixture(autouse=True)
def _regstack_thread_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the database, close the connections other threads opened.

    An async test's ORM calls and the bridge's workers have connections of their own,
    which would keep pytest-django from dropping a PostgreSQL test database.
    """
    yield
    if "django_db_setup" in request.fixturenames:
        from django.apps import apps

        from regstack_django.pool.process import close_idle_connections

        close_idle_connections()
        if apps.is_installed("regstack_django.audit"):  # its writer thread has its own
            from regstack_django.audit.writer import close_connections

            close_connections()
