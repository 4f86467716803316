"""``regstack_django.asgi``: the whole site from the settings, on Starlette's routing.

The Django side is the real ``ASGIHandler`` with this module as its
``ROOT_URLCONF`` (an echo view reports what Django saw); the regstack side is
the RegStack the settings configure, on a throw-away SQLite file. The
lifespan is driven by hand, playing the server, to prove it is answered by
the site and never reaches Django (httpx's ``ASGITransport`` sends none).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import re_path, reverse
from starlette.applications import Starlette

import regstack_django
from regstack_django import signals
from regstack_django.asgi import build_site, get_asgi_application
from tests.instances import JWT_SECRET
from tests.testapp.models import Delivery
from tests.utils import connected

PASSWORD = "a-long-enough-password-1"


def echo(request: HttpRequest, rest: str) -> JsonResponse:
    """Report the request as Django saw it."""
    return JsonResponse(
        {
            "served_by": "django",
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META["SCRIPT_NAME"],
            "reversed": reverse("echo", args=["x"]),
        }
    )


urlpatterns = [re_path(r"^(?P<rest>.*)$", echo, name="echo")]


@pytest.fixture(autouse=True)
def _site_settings(settings: Any, tmp_path: Path) -> None:
    settings.ROOT_URLCONF = __name__
    settings.REGSTACK = {
        "jwt_secret": JWT_SECRET,
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/regstack.sqlite3",
        "require_verification": False,
    }


class Spy:
    """Wraps an ASGI app and records the type of every scope it is called with."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.scope_types: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope_types.append(scope["type"])
        await self.app(scope, receive, send)


Message = MutableMapping[str, Any]


class ServerLifespan:
    """Calls ``app`` with a lifespan scope and exchanges events with it, as a server does."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._to_app: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.task = asyncio.ensure_future(app(scope, self._to_app.get, self._from_app.put))

    async def event(self, event_type: str) -> Message:
        await self._to_app.put({"type": event_type})
        return await asyncio.wait_for(self._from_app.get(), 30)


@asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` started through the lifespan protocol, and a client for it."""
    server = ServerLifespan(app)
    assert await server.event("lifespan.startup") == {"type": "lifespan.startup.complete"}
    try:
        async with client_for(app) as client:
            yield client
    finally:
        assert await server.event("lifespan.shutdown") == {"type": "lifespan.shutdown.complete"}
        await asyncio.wait_for(server.task, 10)


def client_for(app: Starlette, *, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})


# --- The one-line asgi.py ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_settings_configured_site_writes_receiver_rows_with_no_attach_call() -> None:
    def on_registered(sender: object, user: Any, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="sync", detail=user.email)

    async def on_logged_in(sender: object, user: Any, **kwargs: Any) -> None:
        await Delivery.objects.acreate(event="user_logged_in", receiver="async", detail=user.email)

    application = get_asgi_application()
    with (
        connected(signals.user_registered, on_registered),
        connected(signals.user_logged_in, on_logged_in),
    ):
        async with served(application) as client:
            assert (await register(client, "a@example.com")).status_code == 201
            login = {"email": "a@example.com", "password": PASSWORD}
            assert (await client.post("/api/auth/login", json=login)).status_code == 200
    written = [r async for r in Delivery.objects.values_list("event", "receiver", "detail")]
    assert written == [
        ("user_registered", "sync", "a@example.com"),
        ("user_logged_in", "async", "a@example.com"),
    ]


async def test_routes_docs_and_the_fallback_to_django() -> None:
    async with served(get_asgi_application()) as client:
        assert (await client.get("/api/auth/docs")).status_code == 200
        schema = (await client.get("/api/auth/openapi.json")).json()
        assert "/register" in schema["paths"]
        assert schema["servers"] == [{"url": "/api/auth"}]
        for path in ("/", "/admin/", "/api/authx", "/api/authx/register", "/docs"):
            response = await client.get(path)
            assert response.json()["served_by"] == "django", path
            assert response.json()["path"] == path
        assert (await client.get("/api/auth/nothing-here")).json() == {"detail": "Not Found"}


async def test_lifespan_installs_the_schema_and_never_reaches_django() -> None:
    django_app = Spy(ASGIHandler())
    site = build_site(regstack_django.get_regstack(), django_app)
    async with client_for(site) as client:
        with pytest.raises(Exception, match="no such table"):
            await register(client, "before@example.com")  # no lifespan, no schema
    async with served(site) as client:
        assert (await register(client, "after@example.com")).status_code == 201
        assert (await client.get("/x")).json()["served_by"] == "django"
    assert django_app.scope_types == ["http"]


@pytest.mark.parametrize("root_path", ["", "/app"])
async def test_root_path_reaches_both_sides(root_path: str) -> None:
    site = get_asgi_application()
    async with client_for(site, root_path=root_path) as client:
        seen = (await client.get(f"{root_path}/admin-like/page")).json()
        schema = (await client.get(f"{root_path}/api/auth/openapi.json")).json()
    assert seen["script_name"] == root_path
    assert seen["path_info"] == "/admin-like/page"
    assert seen["reversed"] == f"{root_path}/x"
    assert schema["servers"] == [{"url": f"{root_path}/api/auth"}]


async def test_regstack_s_html_pages_and_assets_when_its_config_enables_them(
    settings: Any,
) -> None:
    settings.REGSTACK = {**settings.REGSTACK, "enable_ui_router": True}
    async with served(get_asgi_application()) as client:
        page = await client.get("/account/login")
        css = await client.get("/regstack-static/css/core.css")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert css.status_code == 200


@pytest.mark.parametrize(
    ("debug", "static", "served_file"),
    [(True, None, True), (False, None, False), (False, True, True), (True, False, False)],
)
async def test_django_static_files_are_served_as_runserver_serves_them(
    settings: Any, tmp_path: Path, debug: bool, static: bool | None, served_file: bool
) -> None:
    (tmp_path / "site.css").write_text("body { color: teal }")
    settings.DEBUG = debug
    settings.STATIC_URL = "/static/"
    settings.STATICFILES_DIRS = [tmp_path]
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "django.contrib.staticfiles"]):
        async with client_for(get_asgi_application(static=static)) as client:
            response = await client.get("/static/site.css")
    if served_file:
        assert response.text == "body { color: teal }"
    else:
        assert response.json()["served_by"] == "django"


def test_a_wrong_instance_setting_stops_start_up_naming_setting_and_path(settings: Any) -> None:
    settings.REGSTACK = None
    settings.REGSTACK_INSTANCE = "mysite.regstak_site.build"
    with pytest.raises(ImproperlyConfigured) as raised:
        get_asgi_application()
    assert (
        "regstack_django.E013: REGSTACK_INSTANCE cannot import 'mysite.regstak_site.build'"
        in str(raised.value)
    )


def test_the_module_imports_without_settings_or_starlette() -> None:
    import subprocess
    import sys

    code = (
        "import sys, regstack_django.asgi; "
        "assert 'starlette' not in sys.modules and 'fastapi' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": ""}, timeout=60)
