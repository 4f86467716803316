"""The Django side's URLs: the audit page at ``/`` and the admin at ``/admin/``.

regstack's JSON API is not routed here: ``testproject.asgi`` sends every path
under ``settings.REGSTACK["api_prefix"]`` to the FastAPI app before Django sees it.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("testproject.audit.urls")),
]
