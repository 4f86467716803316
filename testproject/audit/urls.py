"""URLs of the audit app (included at the site root by ``testproject.urls``)."""

from __future__ import annotations

from django.urls import path

from testproject.audit.views import AuditEventListView

app_name = "audit"
urlpatterns = [
    path("", AuditEventListView.as_view(), name="events"),
]
