"""Targets for ``REGSTACK_INSTANCE`` in the tests: every shape, right and wrong."""

from __future__ import annotations

import tempfile
from typing import Any

from regstack import RegStack, RegStackConfig

JWT_SECRET = "regstack-django-tests-jwt-secret-0123456789"
BUILT: list[RegStack] = []


def build(database_url: str | None = None) -> RegStack:
    """A zero-argument factory that also takes ``database_url`` (regstack_client uses it)."""
    url = database_url or f"sqlite+aiosqlite:///{tempfile.gettempdir()}/regstack_instances.db"
    rs = RegStack(config=RegStackConfig(jwt_secret=JWT_SECRET, database_url=url))
    BUILT.append(rs)
    return rs


def build_without_database_url() -> RegStack:
    return build()


instance = build()
not_a_regstack = 42


def returns_the_wrong_thing() -> Any:
    return {"jwt_secret": JWT_SECRET}


def raises() -> RegStack:
    raise RuntimeError("cannot build it today")


def needs_an_argument(config: RegStackConfig) -> RegStack:
    return RegStack(config=config)


def asks_for_itself() -> RegStack:
    import regstack_django

    return regstack_django.get_regstack()
