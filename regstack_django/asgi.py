"""The whole site as one ASGI application: regstack's routes and Django, in one call.

In the project's ``asgi.py``::

    import os

    from regstack_django.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    application = get_asgi_application()

and serve it with any ASGI server (``uvicorn mysite.asgi:application``), or
with ``manage.py runserver``, which serves this same application.

The routing is Starlette's (regstack is a FastAPI library, so it is
installed): one ``Mount`` per regstack part, in front of Django mounted at the
root as the fallback.

- ``api_prefix`` (``/api/auth``): regstack's JSON routes, with FastAPI's docs
  at ``{api_prefix}/docs`` and its schema at ``{api_prefix}/openapi.json``.
- With regstack's ``enable_ui_router``: its HTML pages at ``ui_prefix`` and
  their assets at ``static_prefix``.
- Everything else: Django (``/api/authx`` included), wrapped in Django's
  ``ASGIStaticFilesHandler`` when static files are served (``DEBUG``, as
  ``runserver`` does).

A ``Mount`` adds its prefix to ``root_path`` for the app below it, and Django
(mounted at ``""``) gets the server's ``root_path`` unchanged, so both sides
generate correct URLs behind a proxy (``uvicorn --root-path /app``).

The ASGI **lifespan** is answered by the outer app itself: it installs
regstack's schema at start-up (under a lock, as ``manage.py regstack_migrate``
does) and closes regstack's database pool at
shutdown. Django never receives the lifespan scope (its handler refuses it).
Run servers with lifespan on (uvicorn's default ``auto`` does); httpx's
``ASGITransport`` sends no lifespan, so tests use the ``regstack_client``
fixture, which runs it.
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

    ``static``: serve Django's static files (``STATIC_URL``) as ``runserver``
    does; default: when ``DEBUG`` is on and ``django.contrib.staticfiles`` is
    installed. Raises ``ImproperlyConfigured`` (the words of
    ``manage.py check``) when regstack's settings are wrong or missing.
    """
    import django
    from django.core.handlers.asgi import ASGIHandler

    django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

    from regstack_django import get_regstack

    return build_site(get_regstack(), ASGIHandler(), static=static)


def build_site(regstack: Any, django_app: Any, *, static: bool | None = None) -> Starlette:
    """The routing of :func:`get_asgi_application`, for an explicit ``regstack`` and Django app.

    ``django_app`` is Django's ``ASGIHandler`` (or a Channels router, any ASGI app).
    """
    from django.apps import apps
    from django.conf import settings
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute, Mount

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

    return Starlette(routes=routes, lifespan=lifespan)


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
