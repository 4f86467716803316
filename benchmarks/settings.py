"""Django settings for the benchmarks: the test suite's, on a throw-away database.

The benchmarks reuse ``tests.settings`` (so ``tests.testapp``'s ``Delivery``
model is installed and the Tasks backend matches the Django version), but must
never touch a database a test run might be using: ``NAME`` points at a fresh
file in a temporary directory, removed when the process exits. One
settings-wired receiver is named in ``REGSTACK_HOOKS`` so that the request and
memory benchmarks exercise the wiring path a project would use.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from tests.settings import *  # noqa: F403 - a settings module extends another this way
from tests.settings import DATABASES as _TEST_DATABASES

TEMP_DIR = Path(tempfile.mkdtemp(prefix="regstack_django_bench_"))
atexit.register(shutil.rmtree, TEMP_DIR, ignore_errors=True)

DATABASES = {
    "default": {
        **_TEST_DATABASES["default"],
        "NAME": str(TEMP_DIR / "django.sqlite3"),
        "TEST": {},
    }
}

#: The settings-wired receiver of the request benchmark (``user_logged_in``).
#: ``benchmarks.request`` swaps it with ``override_settings`` per configuration,
#: which goes through the same wiring code as start-up.
REGSTACK_HOOKS = {"user_logged_in": ["benchmarks.receivers.settings_receiver"]}
