"""ASGI entry point: the whole site, regstack and Django, in one application.

``regstack_django.asgi.get_asgi_application()`` serves regstack's routes under
its ``api_prefix`` (``/api/auth``, FastAPI's docs at ``/api/auth/docs``), runs
regstack's lifespan (it installs the schema), serves Django's static files
while ``DEBUG`` is on, and sends everything else (the audit page, the admin) to
Django. The regstack instance is the one ``settings.REGSTACK_INSTANCE`` names
(:func:`testproject.instance.build_regstack`).

Serve it with any ASGI server, e.g. ``uvicorn testproject.asgi:application``;
``python manage.py runserver`` serves it too, and so does
``python manage.py regstack_demo --serve``.
"""

from __future__ import annotations

import os

from regstack_django.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

application = get_asgi_application()
