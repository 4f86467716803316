"""The suite's settings with a custom ``AUTH_USER_MODEL`` (run by test_custom_user_model.py)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

AUTH_USER_MODEL = "testapp.EmailUser"
DATABASES["default"]["TEST"]["NAME"] += "_custom_user"  # noqa: F405
