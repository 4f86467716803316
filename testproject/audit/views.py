"""The audit page: the latest regstack events as the Django side recorded them."""

from __future__ import annotations

from typing import Any

from django.views.generic import ListView

from regstack_django import get_regstack
from testproject.audit.models import AuditEvent


class AuditEventListView(ListView):  # type: ignore[type-arg]
    """The 50 newest ``AuditEvent`` rows, newest first."""

    model = AuditEvent
    template_name = "audit/event_list.html"
    context_object_name = "events"
    queryset = AuditEvent.objects.order_by("-created_at", "-id")[:50]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["api_prefix"] = get_regstack().config.api_prefix
        return context
