"""The Django side's URLs: the audit page at ``/`` and the admin at ``/admin/``.

regstack's JSON API is not routed here: the application of ``testproject.asgi``
(``regstack_django.asgi.get_asgi_application()``) sends every path under
regstack's ``api_prefix`` to regstack before Django sees it.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("testproject.audit.urls")),
]
