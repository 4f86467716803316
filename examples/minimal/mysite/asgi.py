# mysite/asgi.py
import os

from regstack_django.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_asgi_application()  # regstack under /api/auth, Django for the rest
