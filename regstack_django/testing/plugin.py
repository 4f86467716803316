"""pytest fixtures for projects that use regstack_django.

Loaded by pytest through the ``pytest11`` entry point ``regstack_django``, so
installing the package is enough. pytest imports this module before
pytest-django has configured settings, so nothing that needs Django settings
is imported here at import time: each fixture imports what it uses.

``regstack_events``
    A :class:`regstack_django.testing.CapturedEvents` list recording every
    regstack event fired during the test.
``regstack_fail_loud``
    ``REGSTACK_HOOKS_RAISE_ERRORS = True`` for the test: a receiver that
    raises makes the fire raise an ``ExceptionGroup`` naming it, so the test
    fails instead of passing over a logged error.
``regstack_client``
    An ``httpx.AsyncClient`` (``base_url="http://testserver"``) on the whole
    site, :func:`regstack_django.asgi.get_asgi_application`'s routing, with
    its lifespan run (regstack's schema installed), serving
    ``regstack_instance``. Drives regstack's real routes: register, verify,
    log in, then assert on what the receivers wrote. An async fixture
    (pytest-asyncio, or anyio).
``regstack_instance``
    The RegStack ``regstack_client`` serves: built fresh for the test from the
    settings (``REGSTACK``, or a ``REGSTACK_INSTANCE`` callable that accepts
    ``database_url``) on ``regstack_database_url``, attached, and what
    :func:`regstack_django.get_regstack` returns during the test. Override
    it to build your own.
``regstack_database_url``
    A new SQLite file in the test's ``tmp_path``: each test has its own
    regstack database, never the development one.

Receivers run outside the test's database transaction (regstack's routes
hop to a worker thread with its own connection): use pytest-django's
``transactional_db`` to assert on the rows they write.
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
    """An async HTTP client on the whole site, lifespan run, serving ``regstack_instance``."""
    import httpx
    from django.core.handlers.asgi import ASGIHandler

    from regstack_django.asgi import build_site

    app = build_site(regstack_instance, ASGIHandler(), static=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
