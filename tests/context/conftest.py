"""The request-context tests' shared set-up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import hooks


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    hooks.reset()
    yield
    hooks.reset()
