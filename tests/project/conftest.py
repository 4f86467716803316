"""The testproject's end-to-end tests: run them with ``--ds=testproject.settings``.

    .venv/bin/python -m pytest tests/project --ds=testproject.settings

They need the whole project (admin, sessions, the audit app, django-tasks-db,
regstack, uvicorn), so the main suite (``tests.settings``) does not collect this
directory: ``tests/conftest.py`` skips it unless the settings are the
testproject's. Nothing here skips or ignores anything; each test builds its own
regstack on ``tmp_path`` databases and never touches ``testproject/var/``.
"""

from __future__ import annotations
