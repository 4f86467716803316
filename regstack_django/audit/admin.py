"""The audit log in the Django admin: read-only list, filters, search, and the dashboard page."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from regstack_django.audit import chart, dashboard
from regstack_django.audit.models import AuthEvent

if TYPE_CHECKING:
    _AuthEventAdminBase = admin.ModelAdmin[AuthEvent]
else:  # ModelAdmin is generic only in django-stubs
    _AuthEventAdminBase = admin.ModelAdmin


class IPAddressFilter(admin.SimpleListFilter):
    """The most frequent addresses of the last week (any other: search for it)."""

    title = "IP address"
    parameter_name = "client_ip"
    shown = 20

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        since = timezone.now() - datetime.timedelta(days=7)
        rows = (
            AuthEvent.objects.filter(created_at__gte=since, client_ip__isnull=False)
            .values("client_ip")
            .annotate(n=Count("id"))
            .order_by("-n", "client_ip")[: self.shown]
        )
        return [(row["client_ip"], f"{row['client_ip']} ({row['n']})") for row in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if not value else queryset.filter(client_ip=value)


@admin.register(AuthEvent)
class AuthEventAdmin(_AuthEventAdminBase):
    list_display = ("created_at", "event", "email", "user_id", "client_ip", "details")
    list_filter = ("event", ("created_at", admin.DateFieldListFilter), IPAddressFilter)
    search_fields = ("email", "user_id", "client_ip", "event_id", "event")
    date_hierarchy = "created_at"
    readonly_fields = (
        "event",
        "user_id",
        "email",
        "client_ip",
        "context",
        "details",
        "event_id",
        "created_at",
    )
    change_list_template = "regstack_audit/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        dashboard_url = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="regstack_audit_authevent_dashboard",
        )
        return [dashboard_url, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Events per hour (last day, last week), failed sign-ins, receiver failures, outbox."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        now = timezone.now()
        day, week = now - datetime.timedelta(days=1), now - datetime.timedelta(days=7)
        last_day, last_week = dashboard.per_hour(24, now), dashboard.per_hour(24 * 7, now)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Audit dashboard",
            "opts": self.model._meta,
            "legend": chart.legend(),
            "charts": [
                _chart("Last 24 hours", last_day, label_every=3, fmt="%H:00"),
                _chart("Last 7 days", last_week, label_every=24, fmt="%a %d"),
            ],
            "by_event": _side_by_side(dashboard.by_event(day), dashboard.by_event(week)),
            "failed": dashboard.failed_sign_ins(week),
            "receiver_failures": dashboard.receiver_failures(week),
            "outbox": dashboard.outbox(),
        }
        return TemplateResponse(request, "regstack_audit/dashboard.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _chart(
    title: str, hours: list[dashboard.Hour], *, label_every: int, fmt: str
) -> dict[str, Any]:
    totals = {kind: sum(h.counts[kind] for h in hours) for kind in dashboard.KINDS}
    label = f"{title}: " + ", ".join(f"{n} {kind}" for kind, n in totals.items())
    return {
        "title": title,
        "totals": totals,
        "svg": chart.bar_chart(hours, label=label, label_every=label_every, fmt=fmt),
    }


def _side_by_side(
    day: list[tuple[str, int]], week: list[tuple[str, int]]
) -> list[tuple[str, int, int]]:
    last_day = dict(day)
    return [(event, last_day.get(event, 0), n) for event, n in week]
