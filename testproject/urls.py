"""The Django side's URLs: the audit page at ``/`` and the admin at ``/admin/``.

regstack's API never reaches them: the ASGI application routes its prefix to regstack.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("testproject.audit.urls")),
]
