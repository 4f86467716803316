"""ASGI entry point: Django and regstack's FastAPI app, served as one application.

Requests under ``settings.REGSTACK["api_prefix"]`` (``/api/auth``) go to
regstack's FastAPI app; everything else (the audit page, the admin) to Django.
The ``lifespan`` scope goes to the FastAPI app only: its lifespan installs
regstack's schema, and Django's handler refuses that scope.

Serve it with any ASGI server, e.g. ``uvicorn testproject.asgi:application``,
or run ``python manage.py regstack_demo --serve``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
django_application = get_asgi_application()  # sets Django up before the imports below

from django.conf import settings  # noqa: E402

from regstack_django.asgi import compose  # noqa: E402
from testproject.regstack_site import get_fastapi_app  # noqa: E402

application = compose(django_application, get_fastapi_app(), prefix=settings.REGSTACK["api_prefix"])
