"""The outbox in the Django admin: read-only, with one *Retry now* action; never the message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from regstack_django.models import OutboxEvent

if TYPE_CHECKING:
    _OutboxAdminBase = admin.ModelAdmin[OutboxEvent]
else:  # ModelAdmin is generic only in django-stubs (not subscriptable at run time on 5.2)
    _OutboxAdminBase = admin.ModelAdmin


class DeliveredFilter(admin.SimpleListFilter):
    title = "delivered"
    parameter_name = "delivered"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Delivered"), ("no", "Pending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(delivered_at__isnull=True)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(_OutboxAdminBase):
    list_display = (
        "event",
        "handler",
        "event_id",
        "created_at",
        "attempts",
        "available_at",
        "delivered_at",
        "short_error",
    )
    list_filter = (DeliveredFilter, "event")
    search_fields = ("event", "handler", "event_id")
    fields = (
        "event",
        "handler",
        "event_id",
        "created_at",
        "attempts",
        "available_at",
        "delivered_at",
        "last_error",
    )
    readonly_fields = fields
    actions = ("retry_now",)

    @admin.display(description="last error")
    def short_error(self, row: OutboxEvent) -> str:
        return row.last_error[:120]

    @admin.action(description="Retry now (make the selected pending rows due)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = queryset.filter(delivered_at__isnull=True).update(available_at=timezone.now())
        self.message_user(request, f"{count} pending row(s) due now.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
