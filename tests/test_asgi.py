"""``regstack_django.asgi.compose``: one ASGI app for Django and regstack's FastAPI app.

The Django side is the real ``get_asgi_application()`` with this module as its
``ROOT_URLCONF`` (an echo view reports what Django saw); the regstack side is
the real regstack app that ``testproject/tour.py`` builds, on a throw-away
SQLite file. The lifespan is driven by hand, playing the server, so the tests
prove the composed app forwards it (httpx's ``ASGITransport`` sends none).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path, reverse
from fastapi import FastAPI, Request
from sqlalchemy.exc import OperationalError

from regstack_django.asgi import ComposedApp, compose
from testproject.tour import build_fastapi_app, build_tour_config, build_tour_regstack

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping

    from regstack_django.asgi import AnyASGIApp, Message, Receive, Scope, Send

PREFIX = "/api/auth"
PASSWORD = "a-long-enough-password"


# --- The Django side: this module is the ROOT_URLCONF --------------------------------


def echo(request: HttpRequest, rest: str) -> JsonResponse:
    """Report the request as Django saw it."""
    return JsonResponse(
        {
            "served_by": "django",
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META["SCRIPT_NAME"],
            "root_path": request.scope["root_path"],  # type: ignore[attr-defined]
            "reversed": reverse("echo", args=["x"]),
        }
    )


urlpatterns = [
    path("admin-like/<path:rest>", echo, name="echo"),
    re_path(r"^(?P<rest>.*)$", echo, name="anything"),
]


@pytest.fixture(autouse=True)
def _urls(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__


class Spy:
    """Wraps an ASGI app and records the type of every scope it is called with."""

    def __init__(self, app: AnyASGIApp, name: str = "spy") -> None:
        self.app = app
        self.name = name
        self.scope_types: list[str] = []

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Receive,
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        self.scope_types.append(scope["type"])
        await self.app(scope, receive, send)


@pytest.fixture
def django_spy() -> Spy:
    return Spy(get_asgi_application(), "django")


@pytest.fixture
def regstack_fastapi(tmp_path: Path) -> FastAPI:
    """The real regstack app (routes under /api/auth), on its own SQLite file."""
    config = build_tour_config(f"sqlite+aiosqlite:///{tmp_path}/rs.db")
    return build_fastapi_app(build_tour_regstack(config))


# --- Playing the server's side of the lifespan protocol ------------------------------


class ServerLifespan:
    """Calls ``app`` with a lifespan scope and exchanges events with it, as a server does."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.scope: dict[str, Any] = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": {},
        }
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.task = asyncio.ensure_future(app(self.scope, self._to_app.get, self._from_app.put))

    async def event(self, event_type: str) -> MutableMapping[str, Any] | None:
        """Send ``event_type``; return the answer, or ``None`` if the app ended without one."""
        await self._to_app.put({"type": event_type})
        answer = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait(
            {answer, self.task}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        assert done, f"no answer to {event_type}"
        if answer in done:
            return answer.result()
        answer.cancel()
        return None


@asynccontextmanager
async def lifespan_of(app: ComposedApp) -> AsyncIterator[ServerLifespan]:
    """Start ``app`` through the lifespan protocol, yield, then shut it down."""
    server = ServerLifespan(app)
    assert await server.event("lifespan.startup") == {"type": "lifespan.startup.complete"}
    try:
        yield server
    finally:
        assert await server.event("lifespan.shutdown") == {"type": "lifespan.shutdown.complete"}
        await asyncio.wait_for(server.task, 10)


def client_for(app: ComposedApp, *, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# --- Routing, with the real regstack and the real Django -----------------------------


@pytest.mark.regstack
async def test_lifespan_goes_through_the_composed_app_to_regstack(
    regstack_fastapi: FastAPI, django_spy: Spy
) -> None:
    app = compose(django_spy, regstack_fastapi, prefix=PREFIX)
    body = {"email": "alice@example.com", "password": PASSWORD}

    async with client_for(app) as client:
        # No lifespan yet: regstack's schema is not installed.
        with pytest.raises(OperationalError, match="no such table"):
            await client.post(f"{PREFIX}/register", json=body)
        async with lifespan_of(app):
            after = await client.post(f"{PREFIX}/register", json=body)

    assert after.status_code in (200, 201), after.text
    assert after.json()["email"] == "alice@example.com"
    assert django_spy.scope_types == []


@pytest.mark.regstack
async def test_regstack_and_django_in_one_client(
    regstack_fastapi: FastAPI, django_spy: Spy
) -> None:
    app = compose(django_spy, regstack_fastapi, prefix=PREFIX)

    async with lifespan_of(app), client_for(app) as client:
        registered = await client.post(
            f"{PREFIX}/register", json={"email": "bob@example.com", "password": PASSWORD}
        )
        login = await client.post(
            f"{PREFIX}/login", json={"email": "bob@example.com", "password": PASSWORD}
        )
        django = await client.get("/admin-like/anything")
        boundary = await client.get("/api/authx/register")
        unknown_under_prefix = await client.get(f"{PREFIX}/no-such-route")

    assert registered.status_code == 201, registered.text
    # Verification is on in the tour's config: regstack itself refuses the login.
    assert login.status_code == 401, login.text
    assert "detail" in login.json()
    assert django.status_code == 200
    assert django.json()["served_by"] == "django"
    assert django.json()["path"] == "/admin-like/anything"
    assert boundary.status_code == 200
    assert boundary.json()["served_by"] == "django"
    assert boundary.json()["path"] == "/api/authx/register"
    # Under the prefix even a 404 is FastAPI's, never Django's.
    assert unknown_under_prefix.status_code == 404
    assert unknown_under_prefix.json() == {"detail": "Not Found"}
    assert django_spy.scope_types == ["http", "http"]


async def test_lifespan_never_reaches_django(django_spy: Spy) -> None:
    mounted = Spy(FastAPI(), "fastapi")
    app = compose(django_spy, mounted, prefix=PREFIX)

    async with lifespan_of(app), client_for(app) as client:
        await client.get("/elsewhere")

    assert mounted.scope_types == ["lifespan"]
    assert django_spy.scope_types == ["http"]


async def test_django_itself_refuses_lifespan() -> None:
    """Why the composed app must keep lifespan away from Django."""
    server = ServerLifespan(get_asgi_application())
    assert await server.event("lifespan.startup") is None
    with pytest.raises(ValueError, match="lifespan"):
        await server.task


class Recorder:
    """A minimal ASGI app that records the scopes it gets and answers 204."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def http_scope(path: str, root_path: str = "", scope_type: str = "http") -> dict[str, Any]:
    return {"type": scope_type, "path": path, "root_path": root_path, "headers": []}


@pytest.mark.parametrize(
    ("path", "root_path", "to_mount"),
    [
        ("/api/auth", "", True),
        ("/api/auth/", "", True),
        ("/api/auth/register", "", True),
        ("/api/auth/oauth/standin/start", "", True),
        ("/api/authx", "", False),
        ("/api/authx/register", "", False),
        ("/api", "", False),
        ("/", "", False),
        ("/admin/api/auth", "", False),
        # Current servers: path holds root_path.
        ("/app/api/auth", "/app", True),
        ("/app/api/auth/register", "/app", True),
        ("/app/api/authx", "/app", False),
        ("/app", "/app", False),
        ("/app/", "/app", False),
        # A server that strips root_path from path: routed as Starlette would.
        ("/api/auth/register", "/app", True),
        ("/api/authx", "/app", False),
        # "/application" is not under root_path "/app".
        ("/application/api/auth", "/app", False),
    ],
)
def test_prefix_boundary(path: str, root_path: str, to_mount: bool) -> None:
    django, mounted = Recorder(), Recorder()
    app = compose(django, mounted, prefix=PREFIX)

    assert app.app_for(http_scope(path, root_path)) is (mounted if to_mount else django)


async def test_websockets_are_routed_by_path_too() -> None:
    django, mounted = Recorder(), Recorder()
    app = compose(django, mounted, prefix=PREFIX)
    inbound = http_scope(f"{PREFIX}/ws", scope_type="websocket")
    outbound = http_scope("/ws", scope_type="websocket")

    await app(inbound, _never_receive, _discard)
    await app(outbound, _never_receive, _discard)

    assert mounted.scopes == [inbound]
    assert django.scopes == [outbound]


async def test_other_scope_types_go_to_django() -> None:
    django, mounted = Recorder(), Recorder()
    app = compose(django, mounted, prefix=PREFIX)

    await app({"type": "webtransport", "path": PREFIX}, _never_receive, _discard)

    assert [scope["type"] for scope in django.scopes] == ["webtransport"]
    assert mounted.scopes == []


async def test_the_scope_is_passed_on_unchanged() -> None:
    django, mounted = Recorder(), Recorder()
    app = compose(django, mounted, prefix=PREFIX)
    scope = http_scope("/app/api/auth/x", "/app")
    original = dict(scope)

    await app(scope, _never_receive, _discard)

    assert mounted.scopes[0] is scope
    assert scope == original


async def _never_receive() -> Message:
    raise AssertionError("receive() was not expected")


async def _discard(message: Message) -> None:
    pass


# --- root_path: generated URLs on both sides ------------------------------------------


def where_app() -> FastAPI:
    """A FastAPI app laid out like regstack's (routes at the prefix), reporting its URLs."""
    app = FastAPI(openapi_url=f"{PREFIX}/openapi.json", docs_url=None, redoc_url=None)

    @app.get(f"{PREFIX}/where", name="where")
    async def where(request: Request) -> dict[str, str]:
        return {
            "served_by": "fastapi",
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "url_for": str(request.url_for("where")),
        }

    return app


@pytest.mark.parametrize("root_path", ["", "/app"])
async def test_root_path_reaches_both_apps(root_path: str) -> None:
    app = compose(get_asgi_application(), where_app(), prefix=PREFIX)

    async with client_for(app, root_path=root_path) as client:
        fastapi = (await client.get(f"{root_path}{PREFIX}/where")).json()
        redirect = await client.get(f"{root_path}{PREFIX}/where/")
        openapi = (await client.get(f"{root_path}{PREFIX}/openapi.json")).json()
        django = (await client.get(f"{root_path}/admin-like/anything")).json()

    assert fastapi == {
        "served_by": "fastapi",
        "root_path": root_path,
        "path": f"{root_path}{PREFIX}/where",
        "url_for": f"http://testserver{root_path}{PREFIX}/where",
    }
    # FastAPI's trailing-slash redirect keeps the root path.
    assert redirect.status_code == 307
    assert redirect.headers["location"] == f"http://testserver{root_path}{PREFIX}/where"
    # OpenAPI paths carry the prefix; "servers" carries the root path.
    assert f"{PREFIX}/where" in openapi["paths"]
    assert openapi.get("servers", []) == ([{"url": root_path}] if root_path else [])
    assert django == {
        "served_by": "django",
        "path": f"{root_path}/admin-like/anything",
        "path_info": "/admin-like/anything",
        "script_name": root_path,
        "root_path": root_path,
        "reversed": f"{root_path}/admin-like/x",
    }


async def test_root_path_from_a_server_that_strips_it() -> None:
    """Older servers send path without root_path; FastAPI must still be reached and be right."""
    app = compose(get_asgi_application(), where_app(), prefix=PREFIX)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        **http_scope(f"{PREFIX}/where", "/app"),
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
    }
    await app(scope, receive, send)

    assert sent[0]["status"] == 200
    assert b'"url_for":"http://testserver/app/api/auth/where"' in sent[1]["body"]


# --- Several mounts and their lifespans -----------------------------------------------


def lifespan_app(name: str, log: list[str], *, fail_on: str = "") -> FastAPI:
    """A FastAPI app whose lifespan logs "<name> start" / "<name> stop" and may fail."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, str]]:
        if fail_on == "startup":
            raise RuntimeError(f"{name} cannot start")
        log.append(f"{name} start")
        yield {name: "state"}
        log.append(f"{name} stop")
        if fail_on == "shutdown":
            raise RuntimeError(f"{name} cannot stop")

    app = FastAPI(lifespan=lifespan)

    @app.get("/{rest:path}")
    async def anything(rest: str) -> dict[str, str]:
        return {"served_by": name}

    return app


async def test_several_mounts_route_and_share_one_lifespan(django_spy: Spy) -> None:
    log: list[str] = []
    auth, hooks = lifespan_app("auth", log), lifespan_app("hooks", log)
    app = compose(django_spy, {"/api/auth": auth, "/hooks": hooks})

    async with lifespan_of(app) as server, client_for(app) as client:
        served_by = [
            (await client.get(url)).json()["served_by"]
            for url in ("/api/auth/me", "/hooks", "/hooks/x", "/hooksx", "/api")
        ]
        state = dict(server.scope["state"])

    assert served_by == ["auth", "hooks", "hooks", "django", "django"]
    assert log == ["auth start", "hooks start", "hooks stop", "auth stop"]
    # Lifespan state from every app reaches the server's state dict.
    assert state == {"auth": "state", "hooks": "state"}
    assert django_spy.scope_types == ["http", "http"]


async def test_one_app_at_two_prefixes_starts_once() -> None:
    log: list[str] = []
    auth = lifespan_app("auth", log)
    app = compose(Recorder(), {"/a": auth, "/b": auth})

    async with lifespan_of(app):
        pass

    assert log == ["auth start", "auth stop"]


async def test_a_failed_startup_stops_the_apps_already_started() -> None:
    log: list[str] = []
    app = compose(
        Recorder(),
        {
            "/first": lifespan_app("first", log),
            "/second": lifespan_app("second", log, fail_on="startup"),
            "/third": lifespan_app("third", log),
        },
    )
    server = ServerLifespan(app)

    answer = await server.event("lifespan.startup")
    await asyncio.wait_for(server.task, 10)

    assert answer is not None
    assert answer["type"] == "lifespan.startup.failed"
    assert answer["message"].startswith("/second: ")
    assert "second cannot start" in answer["message"]
    assert log == ["first start", "first stop"]


async def test_a_failed_shutdown_is_reported() -> None:
    log: list[str] = []
    app = compose(
        Recorder(),
        {"/ok": lifespan_app("ok", log), "/bad": lifespan_app("bad", log, fail_on="shutdown")},
    )
    server = ServerLifespan(app)

    assert await server.event("lifespan.startup") == {"type": "lifespan.startup.complete"}
    answer = await server.event("lifespan.shutdown")
    await asyncio.wait_for(server.task, 10)

    assert answer is not None
    assert answer["type"] == "lifespan.shutdown.failed"
    assert "/bad: " in answer["message"]
    assert "bad cannot stop" in answer["message"]
    assert log == ["ok start", "bad start", "bad stop", "ok stop"]


async def test_a_mount_without_lifespan_support_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    # Django refuses lifespan, like any app that does not support it.
    app = compose(
        Recorder(),
        {"/auth": lifespan_app("auth", log), "/legacy": get_asgi_application()},
    )

    with caplog.at_level(logging.WARNING, logger="regstack_django.asgi"):
        async with lifespan_of(app):
            pass

    assert log == ["auth start", "auth stop"]
    [record] = [r for r in caplog.records if r.name == "regstack_django.asgi"]
    assert "/legacy" in record.getMessage()
    assert record.exc_info is not None


async def test_no_mount_supports_lifespan_so_neither_does_the_composed_app() -> None:
    app = compose(Recorder(), {"/a": get_asgi_application(), "/b": get_asgi_application()})
    server = ServerLifespan(app)

    assert await server.event("lifespan.startup") is None
    with pytest.raises(ValueError, match="lifespan"):
        await server.task


# --- The composed object and composition errors ---------------------------------------


def test_attributes() -> None:
    django, mounted, other = Recorder(), Recorder(), Recorder()

    single = compose(django, mounted, prefix=PREFIX)
    several = compose(django, {"/other": other, PREFIX: mounted})

    assert (single.prefix, single.django_app, single.regstack_app) == (PREFIX, django, mounted)
    assert dict(single.mounts) == {PREFIX: mounted}
    assert list(several.mounts) == ["/other", PREFIX]
    assert (several.prefix, several.regstack_app) == ("/other", other)
    with pytest.raises(TypeError):
        several.mounts["/x"] = other  # type: ignore[index]
    with pytest.raises(AttributeError):
        single.prefix = "/x"  # type: ignore[misc]
    assert "'/api/auth'" in repr(single)


@pytest.mark.parametrize(
    ("prefix", "error", "match"),
    [
        ("api/auth", ValueError, r"'api/auth' must start with '/'"),
        ("/api/auth/", ValueError, r"'/api/auth/' must not end with '/'"),
        ("/", ValueError, r"'/' would send every request to the mounted app"),
        ("//", ValueError, r"'//' would send every request"),
        ("", ValueError, r"prefix '' is empty"),
        ("/api//auth", ValueError, r"'/api//auth' has an empty path segment"),
        ("/api?x=1", ValueError, r"'/api\?x=1' contains '\?' or '#'"),
        (b"/api", TypeError, r"prefix must be a str.*b'/api'"),
    ],
)
def test_bad_prefix(prefix: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        compose(Recorder(), Recorder(), prefix=prefix)
    with pytest.raises(error, match=match):
        compose(Recorder(), {prefix: Recorder()})


def test_overlapping_prefixes() -> None:
    with pytest.raises(ValueError, match=r"prefixes '/api' and '/api/auth' overlap"):
        compose(Recorder(), {"/api/auth": Recorder(), "/api": Recorder()})
    # A shared spelling is not an overlap.
    compose(Recorder(), {"/api": Recorder(), "/apix": Recorder()})


def test_not_an_app() -> None:
    with pytest.raises(TypeError, match=r"django_app must be an ASGI application.*None"):
        compose(None, Recorder(), prefix=PREFIX)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"regstack_app must be an ASGI application.*'nope'"):
        compose(Recorder(), "nope", prefix=PREFIX)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"the app mounted at '/x' must be an ASGI application"):
        compose(Recorder(), {"/x": 42})  # type: ignore[dict-item]


def test_an_uncalled_factory_is_not_an_app() -> None:
    with pytest.raises(TypeError, match=r"django_app must be an ASGI 3 application.*called"):
        compose(get_asgi_application, Recorder(), prefix=PREFIX)  # type: ignore[arg-type]


@pytest.mark.regstack
def test_the_regstack_object_is_not_the_app(tmp_path: Path) -> None:
    rs = build_tour_regstack(build_tour_config(f"sqlite+aiosqlite:///{tmp_path}/rs.db"))

    with pytest.raises(TypeError, match=r"pass the FastAPI app that serves it"):
        compose(Recorder(), rs, prefix=PREFIX)


def test_prefix_is_required_with_one_app_and_refused_with_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"needs prefix="):
        compose(Recorder(), Recorder())  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"prefix='/x' given with a mapping"):
        compose(Recorder(), {"/api": Recorder()}, prefix="/x")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"mounts is empty"):
        compose(Recorder(), {})


def test_importing_needs_no_starlette() -> None:
    code = (
        "import sys\n"
        "sys.modules['starlette'] = sys.modules['fastapi'] = None\n"
        "import regstack_django.asgi\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
