"""The whole site as one ASGI application: regstack's routes and Django, with the lifespan.

docs/hosting.md is the guide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["build_site", "get_asgi_application"]


def get_asgi_application(*, static: bool | None = None) -> Starlette:
    """Set Django up and return the site serving :func:`regstack_django.get_regstack`.

    ``static``: serve Django's static files as ``runserver`` does; default: when
    ``DEBUG`` is on and staticfiles is installed. Raise ``ImproperlyConfigured``
    (the words of ``manage.py check``) when regstack's settings are wrong or missing.
    """
    import django
    from django.core.handlers.asgi import ASGIHandler

    django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

    from regstack_django import get_regstack

    return build_site(get_regstack(), ASGIHandler(), static=static)


def build_site(regstack: Any, django_app: Any, *, static: bool | None = None) -> Starlette:
    """Return the site of :func:`get_asgi_application` for an explicit ``regstack`` and Django app.

    ``django_app`` is Django's ``ASGIHandler`` (or a Channels router, any ASGI app).
    Each regstack part is a ``Mount`` in front of Django at the root, so ``root_path``
    reaches both sides; the lifespan installs regstack's schema and closes its pool.
    Every HTTP request runs with its ``EventContext`` set, and failed sign-ins on
    regstack's ``POST /login`` send ``login_failed`` (docs/observability.md).
    """
    from django.apps import apps
    from django.conf import settings
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import BaseRoute, Mount

    from regstack_django.hosting.request import RequestContextMiddleware

    if static is None:
        static = settings.DEBUG and apps.is_installed("django.contrib.staticfiles")
    if static:
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        django_app = ASGIStaticFilesHandler(django_app)
    config = regstack.config
    api = FastAPI(
        title=config.app_name,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    api.include_router(regstack.router)
    _serve_rate_limits(api, regstack)
    routes: list[BaseRoute] = [Mount(config.api_prefix, app=api)]
    if config.enable_ui_router:
        pages = FastAPI(docs_url=None, openapi_url=None, redoc_url=None)
        pages.include_router(regstack.ui_router)
        routes.append(Mount(config.ui_prefix, app=pages))
        routes.append(Mount(config.static_prefix, app=regstack.static_files))
    routes.append(Mount("", app=django_app))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        from regstack_django.hosting.schema import install_at_startup

        await install_at_startup(regstack)  # locked: workers may start on a fresh database at once
        try:
            yield
        finally:
            await regstack.aclose()

    watch = _login_watch(regstack, config.api_prefix)
    context = Middleware(RequestContextMiddleware, on_request=watch)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[context])


def _login_watch(regstack: Any, api_prefix: str) -> Any:
    """Return the watcher of regstack's login route, or ``None`` (logged) if it has none."""
    from regstack_django.hosting.login_watch import LoginWatch, find_login_route, logger

    if not find_login_route(regstack.router):
        logger.warning(
            "regstack's router has no POST /login route: login_failed will not be sent "
            "(manage.py check: regstack_django.W045)."
        )
        return None
    return LoginWatch(regstack, api_prefix.rstrip("/") + "/login")


def _serve_rate_limits(api: Any, regstack: Any) -> None:
    """Do the host's part of regstack's per-route rate limits, when they are configured.

    regstack decorates its routes with a slowapi ``Limiter`` and leaves the
    app's ``state.limiter`` and the 429 handler to the host.
    """
    limiter = getattr(regstack, "rate_limiter", None)
    if limiter is None:
        return
    from slowapi import _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded

    api.state.limiter = limiter
    api.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)
