"""ASGI entry point: the whole site, regstack and Django, in one application.

Serve it with any ASGI server, e.g. ``uvicorn testproject.asgi:application``.
"""

from __future__ import annotations

import os

from regstack_django.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

application = get_asgi_application()
