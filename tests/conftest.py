"""Fixtures for the whole suite.

``tests/project/`` holds the testproject's own end-to-end tests; they need
``--ds=testproject.settings`` (the noxfile runs them as a second pytest call),
so a run with the default ``tests.settings`` leaves them out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from regstack_django import HookRegistry, get_registry

PROJECT_TESTS = Path(__file__).parent / "project"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("ds", None) == "testproject.settings":
        return None
    if collection_path == PROJECT_TESTS or PROJECT_TESTS in collection_path.parents:
        return True
    return None


@pytest.fixture
def registry() -> HookRegistry:
    """The registry the AppConfig built."""
    return get_registry()
