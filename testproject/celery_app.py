"""The Celery app of the testproject, for ``TESTPROJECT_TASKS_BACKEND=celery``.

django-tasks-celery enqueues through the app its ``CELERY_APP`` option names
(see :mod:`testproject.settings`), and the worker is started on the same one::

    celery -A testproject.celery_app worker

The app reads every ``CELERY_*`` Django setting (the broker is
``TESTPROJECT_REDIS_URL``). Nothing registers tasks here: Celery's Django
fix-up sets Django up in the worker, ``regstack_django`` then imports its
``deliver`` task, and django-tasks-celery registers it with this app.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

app = Celery("testproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
