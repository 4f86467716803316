"""Build the tour's regstack: its config, the instance with the stand-in provider, a FastAPI app."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from regstack import RegStack, RegStackConfig

from support.tour.provider import register_standin_provider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
"""Where the tour's email links and OAuth callback URLs point (``runserver``'s default)."""

DEV_JWT_SECRET = "regstack-django-tour-dev-jwt-secret-not-for-production"
"""Development-only signing secret; regstack refuses secrets under 32 characters."""


class _KwargsOnlyConfig(RegStackConfig):
    """A ``RegStackConfig`` whose only settings source is its keyword arguments.

    ``RegStackConfig.load`` reads ``./regstack.toml`` and
    ``./regstack.secrets.env`` from the working directory, and even the plain
    constructor (a pydantic-settings ``BaseSettings``) reads ``REGSTACK_*``
    environment variables. The tour must behave the same wherever it runs, so
    this subclass drops every source but the explicit arguments.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def build_tour_config(database_url: str, **overrides: Any) -> RegStackConfig:
    """Return a config with every feature the tour exercises turned on.

    Built from defaults plus ``overrides`` only: no TOML file, secrets file or
    environment variable is consulted, so the result is deterministic.

    Args:
        database_url: An SQLAlchemy URL, e.g.
            ``"sqlite+aiosqlite:////tmp/tour.db?timeout=30"`` (the timeout
            avoids "database is locked" under concurrent requests).
        **overrides: Any ``RegStackConfig`` field, applied last (for example
            ``jwt_secret`` or ``base_url``).
    """
    settings: dict[str, Any] = {
        "database_url": database_url,
        "base_url": DEFAULT_BASE_URL,
        "api_prefix": "/api/auth",
        "jwt_secret": DEV_JWT_SECRET,
        "email": {"backend": "console"},
        "sms": {"backend": "null"},
        "require_verification": True,
        "allow_registration": True,
        "enable_password_reset": True,
        "enable_account_deletion": True,
        "enable_sms_2fa": True,
        "enable_oauth": True,
        "enable_admin_router": True,
        # The tour never fails a login, but a re-run after an aborted tour (or
        # a demo user mistyping) must not find its accounts locked out.
        "rate_limit_disabled": True,
    }
    settings.update(overrides)
    return _KwargsOnlyConfig(**settings)


def build_tour_regstack(config: RegStackConfig) -> RegStack:
    """Return a ``RegStack`` that :func:`run_tour` can drive: regstack plus the stand-in provider.

    The console email and null SMS backends named in ``config`` (see
    :func:`build_tour_config`) already keep outboxes, so nothing else needs
    wiring.
    """
    rs = RegStack(config=config)
    register_standin_provider(rs)
    return rs


def build_fastapi_app(rs: RegStack) -> FastAPI:
    """Return a FastAPI app serving regstack's JSON routes at ``rs.config.api_prefix``.

    Its lifespan installs regstack's schema and closes the backend. ASGI
    servers run it; ``httpx.ASGITransport`` does not, so tests enter
    ``app.router.lifespan_context(app)`` themselves.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await rs.install_schema()
        try:
            yield
        finally:
            await rs.aclose()

    prefix = rs.config.api_prefix
    # Docs live under the prefix too, so a composed app sends them to FastAPI.
    app = FastAPI(
        title="regstack tour",
        lifespan=lifespan,
        docs_url=f"{prefix}/docs",
        openapi_url=f"{prefix}/openapi.json",
        redoc_url=None,
    )
    app.include_router(rs.router, prefix=rs.config.api_prefix)
    return app
