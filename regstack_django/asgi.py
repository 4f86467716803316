"""Serve Django and regstack's FastAPI app from one ASGI application.

regstack is a FastAPI library; a Django project that embeds it usually wants
one process and one ASGI entry point: regstack's JSON routes under a path
prefix, everything else served by Django. :func:`compose` builds that entry
point. In the project's ``asgi.py``::

    import os

    from django.core.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    django_app = get_asgi_application()  # first: sets Django up before models are imported

    from regstack_django.asgi import compose

    # A FastAPI app built with app.include_router(rs.router, prefix=rs.config.api_prefix):
    from mysite.auth import fastapi_app

    application = compose(django_app, fastapi_app, prefix="/api/auth")

and run it with any ASGI server, e.g. ``uvicorn mysite.asgi:application``.

Routing
    A request (``http`` or ``websocket``) whose path is exactly ``prefix``, or
    starts with ``prefix + "/"``, goes to the FastAPI app; everything else,
    ``/api/authx`` included, goes to Django. Several apps can be mounted by
    passing a mapping instead: ``compose(django_app, {"/api/auth": fastapi_app,
    "/hooks": other_app})``; prefixes must not overlap (``/api`` and
    ``/api/auth`` are rejected, ``/api`` and ``/apix`` are fine).

The form of the mounted app
    The mounted app must serve its routes *at the prefix*, the way regstack's
    own examples build it: ``app.include_router(rs.router,
    prefix=rs.config.api_prefix)``, so ``prefix`` is normally
    ``rs.config.api_prefix``. The prefix is not stripped: the mounted app gets
    the connection scope exactly as the server sent it, just as if it were the
    only app in the process, so its routes, redirects and generated URLs are
    the ones it would produce on its own. An app whose routes are relative to
    the prefix can be wrapped first: ``outer = FastAPI(); outer.mount(prefix,
    inner)`` (Starlette's ``Mount`` then sets the inner app's ``root_path``).

    FastAPI's interactive docs and schema live at ``/docs`` and
    ``/openapi.json`` by default, outside the prefix, so those paths reach
    Django. Move them under the prefix (``FastAPI(docs_url=f"{prefix}/docs",
    openapi_url=f"{prefix}/openapi.json", redoc_url=None)``) or turn them off.

``root_path``
    ASGI's ``root_path`` is the path the whole application is served under
    (``uvicorn --root-path /app`` behind a proxy that strips ``/app``). Current
    servers (uvicorn >= 0.26) and frameworks (Starlette >= 0.33, Django) keep
    the full path in ``scope["path"]``: a request to ``/app/api/auth/me``
    arrives with ``path="/app/api/auth/me"`` and ``root_path="/app"``. The
    composed app matches ``prefix`` against the path *below* ``root_path``,
    computed exactly as Starlette's ``get_route_path`` does (so the apps agree
    on which request is whose), and passes ``root_path`` through unchanged:
    ``/app`` is where both apps are served. Then FastAPI's ``url_for``,
    trailing-slash redirects and OpenAPI ``servers`` all start with ``/app``,
    and Django's ``SCRIPT_NAME`` is ``/app``, so ``reverse()`` is right too.
    A server that still strips ``root_path`` from ``path`` is handled the
    same way Starlette handles it (a path that does not start with
    ``root_path`` is used as it is).

Lifespan
    The ``lifespan`` scope goes to the mounted app(s) only, never to Django:
    Django's ``ASGIHandler`` raises on it, and regstack installs its database
    schema in its FastAPI app's lifespan. Run the server with lifespan on:
    ``uvicorn --lifespan on`` (recommended: a failed schema install stops
    start-up) or ``auto`` (the default). With ``--lifespan off`` the schema is
    never installed and every regstack route answers 500 ("no such table").
    httpx's ``ASGITransport`` sends no lifespan either: tests drive it by hand
    or enter ``fastapi_app.router.lifespan_context(fastapi_app)``. With
    several mounted apps, each distinct app's lifespan runs (asyncio only):
    they start in mount order and stop in reverse order; if one fails to
    start, those already started are stopped and the server is told
    start-up failed; an app that raises without answering is taken as not
    supporting lifespan (as the ASGI spec says) and is logged on the
    ``regstack_django.asgi`` logger.

WebSockets
    ``websocket`` connections are routed by path like ``http`` ones. Django's
    own ``ASGIHandler`` serves only ``http``; pass a Channels
    ``ProtocolTypeRouter`` (or any ASGI app) as ``django_app`` to serve
    WebSockets on the Django side.

This module needs nothing but the standard library (no Starlette import).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, TypeAlias, cast, overload

__all__ = [
    "ASGIApp",
    "AnyASGIApp",
    "ComposedApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "compose",
]

logger = logging.getLogger(__name__)

Scope: TypeAlias = MutableMapping[str, Any]
"""An ASGI connection scope (a ``dict`` at run time)."""
Message: TypeAlias = MutableMapping[str, Any]
"""An ASGI event message (a ``dict`` at run time)."""
Receive: TypeAlias = Callable[[], Awaitable[Message]]
"""The ``receive`` awaitable callable a server passes to an application."""
Send: TypeAlias = Callable[[Message], Awaitable[None]]
"""The ``send`` awaitable callable a server passes to an application."""
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application, typed as ``starlette.types.ASGIApp`` (same shape, no import).

A :class:`ComposedApp` is one, so it can be handed to an ASGI server or wrapped in
Starlette middleware.
"""

_DjangoSend: TypeAlias = Callable[[Mapping[str, Any]], Awaitable[None]]
AnyASGIApp: TypeAlias = Callable[[dict[str, Any], Receive, _DjangoSend], Awaitable[None]]
"""What :func:`compose` accepts: an ASGI 3 application, typed either way.

FastAPI and Starlette apps (typed with :data:`ASGIApp`'s ``MutableMapping`` shapes),
Django's ``ASGIHandler`` (typed by django-stubs with a ``dict`` scope and ``Mapping``
messages) and a :class:`ComposedApp` all fit it.
"""

_LIFESPAN_STARTUP_COMPLETE = "lifespan.startup.complete"
_LIFESPAN_SHUTDOWN_COMPLETE = "lifespan.shutdown.complete"


def _route_path(scope: Scope) -> str:
    """The request path below ``root_path``: Starlette's ``get_route_path``, without Starlette.

    ``path`` holds the full path (root path included) on current servers; a path
    that does not start with ``root_path`` at a segment boundary is returned as
    it is, as Starlette does, so that this module and a mounted Starlette app
    always agree on the route path.
    """
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if len(path) == len(root_path):
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


async def _call(app: AnyASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Call ``app`` with what the server passed.

    At run time a scope is a ``dict`` and ``send`` accepts any message mapping, so
    the casts only reconcile the two typing conventions of :data:`AnyASGIApp`.
    """
    await app(cast("dict[str, Any]", scope), receive, cast("_DjangoSend", send))


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as '/api/auth', got {prefix!r}")
    if not prefix:
        raise ValueError("prefix '' is empty: use a path such as '/api/auth'")
    if not prefix.startswith("/"):
        raise ValueError(f"prefix {prefix!r} must start with '/': use {'/' + prefix!r}")
    if not prefix.strip("/"):
        raise ValueError(
            f"prefix {prefix!r} would send every request to the mounted app and none to "
            "Django: use a path such as '/api/auth'"
        )
    if prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must not end with '/': use {prefix.rstrip('/')!r}")
    if "//" in prefix:
        raise ValueError(f"prefix {prefix!r} has an empty path segment ('//')")
    if "?" in prefix or "#" in prefix:
        raise ValueError(
            f"prefix {prefix!r} contains '?' or '#': a prefix matches the path only, "
            "never a query string or fragment"
        )
    return prefix


def _check_app(role: str, app: object) -> None:
    if not callable(app):
        hint = ""
        if type(app).__name__ == "RegStack":
            hint = (
                ": pass the FastAPI app that serves it (app.include_router(rs.router, "
                "prefix=rs.config.api_prefix)), not the RegStack"
            )
        raise TypeError(
            f"{role} must be an ASGI application, callable as app(scope, receive, send); "
            f"got {app!r} ({type(app).__name__}){hint}"
        )
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # no introspectable signature: trust it
        return
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise TypeError(
            f"{role} must be an ASGI 3 application, callable as app(scope, receive, send); "
            f"{app!r} has the signature {signature} (a factory such as "
            "get_asgi_application must be called: get_asgi_application())"
        ) from None


def _check_no_overlap(prefixes: Iterable[str]) -> None:
    ordered = sorted(prefixes)
    for index, outer in enumerate(ordered):
        for inner in ordered[index + 1 :]:
            if inner.startswith(outer + "/"):
                raise ValueError(
                    f"prefixes {outer!r} and {inner!r} overlap: every path under {inner!r} "
                    f"is also under {outer!r}; mount each app at a prefix no other contains"
                )


class ComposedApp:
    """One ASGI application: path prefixes to mounted apps, everything else to Django.

    Build it with :func:`compose`; see the module documentation for routing,
    ``root_path`` and lifespan. Instances are immutable.
    """

    __slots__ = ("_django_app", "_lifespan_apps", "_mounts", "_routes")

    def __init__(self, django_app: AnyASGIApp, mounts: Mapping[str, AnyASGIApp]) -> None:
        """Validate and store the apps.

        Args:
            django_app: The Django ASGI application (``get_asgi_application()``),
                which serves every request no mount claims.
            mounts: ``{prefix: app}``, in the order given (it orders lifespan
                start-up). Each prefix starts with ``/``, does not end with
                ``/``, is not ``/``, and contains no other prefix.

        Raises:
            TypeError: An app is not an ASGI 3 callable, or a prefix is not a str.
            ValueError: A prefix is malformed, two prefixes overlap, or
                ``mounts`` is empty.
        """
        _check_app("django_app", django_app)
        if not isinstance(mounts, Mapping):
            raise TypeError(f"mounts must be a mapping {{prefix: app}}, got {mounts!r}")
        if not mounts:
            raise ValueError("mounts is empty: mount at least one app, e.g. {'/api/auth': app}")
        checked: dict[str, AnyASGIApp] = {}
        for prefix, app in mounts.items():
            _check_app(f"the app mounted at {_check_prefix(prefix)!r}", app)
            checked[prefix] = app
        _check_no_overlap(checked)
        self._django_app = django_app
        self._mounts: Mapping[str, AnyASGIApp] = MappingProxyType(checked)
        self._routes = tuple((prefix, prefix + "/", app) for prefix, app in checked.items())
        distinct: dict[int, tuple[str, AnyASGIApp]] = {}
        for prefix, app in checked.items():
            distinct.setdefault(id(app), (prefix, app))
        self._lifespan_apps = tuple(distinct.values())

    @property
    def django_app(self) -> AnyASGIApp:
        """The app serving every request outside the mounted prefixes (never ``lifespan``)."""
        return self._django_app

    @property
    def mounts(self) -> Mapping[str, AnyASGIApp]:
        """``{prefix: app}``, read-only, in the order given."""
        return self._mounts

    @property
    def prefix(self) -> str:
        """The mounted prefix (with several mounts, the first one's)."""
        return self._routes[0][0]

    @property
    def regstack_app(self) -> AnyASGIApp:
        """The app mounted at :attr:`prefix` (with several mounts, the first one)."""
        return self._routes[0][2]

    def __repr__(self) -> str:
        mounts = ", ".join(f"{prefix!r}: {app!r}" for prefix, _, app in self._routes)
        return f"<ComposedApp django_app={self._django_app!r} mounts={{{mounts}}}>"

    def app_for(self, scope: Scope) -> AnyASGIApp:
        """The app that serves an ``http`` or ``websocket`` connection with this ``scope``."""
        route_path = _route_path(scope)
        for prefix, below, app in self._routes:
            if route_path == prefix or route_path.startswith(below):
                return app
        return self._django_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        scope_type = scope["type"]
        if scope_type == "http" or scope_type == "websocket":
            await _call(self.app_for(scope), scope, receive, send)
        elif scope_type == "lifespan":
            if len(self._lifespan_apps) == 1:
                await _call(self._lifespan_apps[0][1], scope, receive, send)
            else:
                await _fan_out_lifespan(self._lifespan_apps, scope, receive, send)
        else:
            await _call(self._django_app, scope, receive, send)


@overload
def compose(django_app: AnyASGIApp, regstack_app: AnyASGIApp, *, prefix: str) -> ComposedApp: ...
@overload
def compose(django_app: AnyASGIApp, mounts: Mapping[str, AnyASGIApp], /) -> ComposedApp: ...
def compose(
    django_app: AnyASGIApp,
    regstack_app: AnyASGIApp | Mapping[str, AnyASGIApp],
    *,
    prefix: str | None = None,
) -> ComposedApp:
    """Compose Django's ASGI app and regstack's FastAPI app into one ASGI app.

    Two forms:

    - ``compose(django_app, regstack_app, prefix="/api/auth")``: the common case;
      ``prefix`` is normally ``rs.config.api_prefix``.
    - ``compose(django_app, {"/api/auth": regstack_app, "/other": other_app})``:
      several mounted apps, at prefixes that do not overlap.

    Args:
        django_app: Django's ASGI application, ``get_asgi_application()``. It
            serves every ``http``/``websocket`` request outside the prefixes and
            never receives the ``lifespan`` scope.
        regstack_app: The FastAPI app serving regstack's routes *at* ``prefix``
            (``app.include_router(rs.router, prefix=rs.config.api_prefix)``),
            or a mapping ``{prefix: app}``. A mounted app receives the scope
            unchanged (full ``path``, the server's ``root_path``) and the
            ``lifespan`` scope.
        prefix: Where ``regstack_app`` is served: starts with ``/``, does not end
            with ``/``, is not ``/``. Required with a single app, not allowed
            with a mapping.

    Returns:
        A :class:`ComposedApp`, itself an :data:`ASGIApp`.

    Raises:
        TypeError: An app is not an ASGI 3 callable, ``prefix`` is missing (or
            given with a mapping), or a prefix is not a str.
        ValueError: A prefix is malformed (no leading ``/``, a trailing ``/``,
            ``/`` itself) or two prefixes overlap.
    """
    if isinstance(regstack_app, Mapping):
        if prefix is not None:
            raise TypeError(
                f"prefix={prefix!r} given with a mapping of mounts: the mapping's keys "
                "are the prefixes; use compose(django_app, {prefix: app, ...})"
            )
        return ComposedApp(django_app, regstack_app)
    if prefix is None:
        raise TypeError(
            "compose(django_app, regstack_app) needs prefix=..., where regstack_app serves "
            "its routes (regstack's api_prefix, e.g. prefix='/api/auth')"
        )
    _check_app("django_app", django_app)
    _check_app("regstack_app", regstack_app)
    return ComposedApp(django_app, {_check_prefix(prefix): regstack_app})


class _LifespanRun:
    """One mounted app's lifespan, run as a task and driven one event at a time."""

    def __init__(self, prefix: str, app: AnyASGIApp, scope: Scope) -> None:
        self.prefix = prefix
        self.error: Exception | None = None
        self.ended = False
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        # Each app gets its own copy of the scope (Starlette writes scope["app"]),
        # sharing the server's "state" dict so lifespan state still reaches requests.
        self.task = asyncio.ensure_future(self._run(app, dict(scope)))

    async def _run(self, app: AnyASGIApp, scope: Scope) -> None:
        try:
            await _call(app, scope, self._inbox.get, self._outbox.put)
        except Exception as exc:
            self.error = exc
        finally:
            self._outbox.put_nowait(None)

    async def exchange(self, event: Message) -> Message | None:
        """Pass ``event`` to the app; return its answer, or ``None`` if it ended without one."""
        if self.ended:
            return None
        await self._inbox.put(event)
        answer = await self._outbox.get()
        if answer is None:
            self.ended = True
        return answer

    def failure(self, answer: Message | None, expected: str) -> str:
        """Describe an answer that is not ``expected``, for the server's log."""
        if answer is None:
            detail = f"ended without answering ({self.error!r})"
        elif answer.get("type") == expected.replace(".complete", ".failed"):
            detail = str(answer.get("message", "")) or "failed"
        else:
            detail = f"answered {answer.get('type')!r}"
        return f"{self.prefix}: {detail}"


async def _stop(runs: Iterable[_LifespanRun], event: Message) -> list[str]:
    """Shut ``runs`` down one after the other; return the failures."""
    failures = []
    for run in runs:
        answer = await run.exchange(event)
        if answer is None or answer.get("type") != _LIFESPAN_SHUTDOWN_COMPLETE:
            failures.append(run.failure(answer, _LIFESPAN_SHUTDOWN_COMPLETE))
    return failures


async def _fan_out_lifespan(
    apps: tuple[tuple[str, AnyASGIApp], ...], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run the lifespans of several apps as one: start in order, stop in reverse."""
    runs = [_LifespanRun(prefix, app, scope) for prefix, app in apps]
    try:
        started: list[_LifespanRun] = []
        startup = await receive()
        for run in runs:
            answer = await run.exchange(startup)
            if answer is not None and answer.get("type") == _LIFESPAN_STARTUP_COMPLETE:
                started.append(run)
            elif answer is None:
                logger.warning(
                    "The app mounted at %s does not support the ASGI lifespan protocol; "
                    "starting without it.",
                    run.prefix,
                    exc_info=run.error,
                )
            else:
                failures = [run.failure(answer, _LIFESPAN_STARTUP_COMPLETE)]
                failures += await _stop(reversed(started), {"type": "lifespan.shutdown"})
                await send({"type": "lifespan.startup.failed", "message": "\n".join(failures)})
                return
        if not started:
            # None of them speaks lifespan: neither does the composed app.
            errors = [run.error for run in runs if run.error is not None]
            if errors:
                raise errors[0]
            return
        await send({"type": _LIFESPAN_STARTUP_COMPLETE})
        shutdown = await receive()
        failures = await _stop(reversed(started), shutdown)
        if failures:
            await send({"type": "lifespan.shutdown.failed", "message": "\n".join(failures)})
        else:
            await send({"type": _LIFESPAN_SHUTDOWN_COMPLETE})
    finally:
        pending = [run.task for run in runs if not run.task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
