"""Fixtures for the whole suite.

``tests/project/`` (the testproject's end-to-end tests) and ``tests/audit/`` need their own
settings (``--ds=testproject.settings``, ``--ds=tests.audit.settings``; the noxfile runs each
as a pytest call of its own), so a run with the default ``tests.settings`` leaves them out. With
``REGSTACK_TEST_DATABASE=postgres`` both databases are on PostgreSQL
(``support/databases.py``), and tests marked ``sqlite_only`` skip, with their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from regstack_django import HookRegistry, get_registry
from support import databases

PROJECT_TESTS = Path(__file__).parent / "project"
#: Each directory that needs its own settings module, run as a pytest call of its own.
OWN_SETTINGS = {
    "testproject.settings": PROJECT_TESTS,
    "tests.audit.settings": Path(__file__).parent / "audit",
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    chosen = config.getoption("ds", None)
    for settings_module, directory in OWN_SETTINGS.items():
        if chosen == settings_module:
            continue
        if collection_path == directory or directory in collection_path.parents:
            return True
    return None


@pytest.fixture
def registry() -> HookRegistry:
    """The registry the AppConfig built."""
    return get_registry()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, each ``sqlite_only`` test skips with the reason its marker gives."""
    if not databases.on_postgres():
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            assert reason, f"{item.nodeid}: @pytest.mark.sqlite_only needs a reason"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _run_databases() -> Iterator[None]:
    """The PostgreSQL databases the settings named for this run, there for the whole run.

    Afterwards Django's test database goes too, should pytest-django's teardown have failed
    to drop it (its warning stays): no run leaves a database behind on the server.
    """
    names = list(databases.RUN_DATABASES)
    databases.create(*names)
    try:
        yield
    finally:
        if databases.on_postgres():
            from django.conf import settings

            names.append(settings.DATABASES["default"]["TEST"]["NAME"])
        databases.drop(*names)


@pytest.fixture
def regstack_databases(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``make(name)``: a fresh regstack ``database_url`` on this run's database, by name.

    An SQLite file in ``tmp_path``; on PostgreSQL a database of its own, dropped after the test.
    """
    created: list[str] = []

    def make(name: str = "regstack") -> str:
        if not databases.on_postgres():
            return f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3?timeout=30"
        created.append(databases.unique_name(f"regstack_{name}"))
        databases.create(created[-1])
        return databases.regstack_url(created[-1])

    try:
        yield make
    finally:
        databases.drop(*created)


@pytest.fixture
def regstack_database_url(
    regstack_database_url: str, regstack_databases: Callable[[str], str]
) -> str:
    """This test's regstack database: the plugin's SQLite file, or one on PostgreSQL.

    Overrides the plugin's fixture (``regstack_django.testing.plugin``) on the PostgreSQL leg.
    """
    return regstack_databases("test") if databases.on_postgres() else regstack_database_url
