"""``REGSTACK_INSTANCE`` of the audit tests: the tour's regstack on the test's database."""

from __future__ import annotations

import tempfile

from regstack import RegStack

from support.tour.app import build_tour_config, build_tour_regstack

JWT_SECRET = "regstack-django-tests-jwt-secret-0123456789"


def build_regstack(*, database_url: str | None = None) -> RegStack:
    """A tour-ready RegStack (every feature on, the stand-in OAuth provider) on ``database_url``."""
    url = database_url or f"sqlite+aiosqlite:///{tempfile.gettempdir()}/regstack_audit_tests.db"
    return build_tour_regstack(build_tour_config(url, jwt_secret=JWT_SECRET))
