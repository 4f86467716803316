"""pytest fixtures for projects that use regstack_django.

Loaded by pytest through the ``pytest11`` entry point ``regstack_django``, so
installing the package is enough. pytest imports this module before
pytest-django has configured settings, so nothing that needs Django settings
is imported here at import time: each fixture imports what it uses.

``regstack_events``
    A :class:`regstack_django.testing.CapturedEvents` list recording every
    regstack event fired during the test.
``regstack_fail_loud``
    ``REGSTACK_HOOKS_RAISE_ERRORS = True`` for the test: a receiver that
    raises makes the fire raise an ``ExceptionGroup`` naming it, so the test
    fails instead of passing over a logged error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from regstack_django.testing import CapturedEvents


@pytest.fixture
def regstack_events() -> Iterator[CapturedEvents]:
    """Every regstack event fired during the test, in order."""
    from regstack_django.testing import capture_events

    with capture_events() as captured:
        yield captured


@pytest.fixture
def regstack_fail_loud() -> Iterator[None]:
    """Make any receiver failure raise out of the fire for this test."""
    from django.test import override_settings

    from regstack_django.conf import RAISE_ERRORS_SETTING

    with override_settings(**{RAISE_ERRORS_SETTING: True}):
        yield
