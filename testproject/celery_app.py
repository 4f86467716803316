"""The Celery app of the testproject, for ``TESTPROJECT_TASKS_BACKEND=celery``.

Worker: ``celery -A testproject.celery_app worker``; it reads every ``CELERY_*`` Django setting.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

app = Celery("testproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
