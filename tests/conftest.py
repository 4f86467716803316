"""Fixtures for the whole suite."""

from __future__ import annotations

import pytest

from regstack_django import HookRegistry, get_registry


@pytest.fixture
def registry() -> HookRegistry:
    """The registry the AppConfig built."""
    return get_registry()
