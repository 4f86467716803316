"""The outbox (read-only, status, retry; never the message) and regstack identities in the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from regstack_django.background import health, outbox
from regstack_django.models import OutboxEvent, RegStackIdentity

if TYPE_CHECKING:
    _OutboxAdminBase = admin.ModelAdmin[OutboxEvent]
    _IdentityAdminBase = admin.ModelAdmin[RegStackIdentity]
else:  # ModelAdmin is generic only in django-stubs (not subscriptable at run time on 5.2)
    _OutboxAdminBase = admin.ModelAdmin
    _IdentityAdminBase = admin.ModelAdmin


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(s, s.capitalize()) for s in ("pending", "failing", "dead", "delivered")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        waiting = Q(delivered_at__isnull=True, dead_at__isnull=True)
        chosen = {
            "pending": waiting,
            "failing": waiting & (Q(failures__gt=0) | Q(refusals__gt=0)),
            "dead": Q(delivered_at__isnull=True, dead_at__isnull=False),
            "delivered": Q(delivered_at__isnull=False),
        }.get(self.value() or "")
        return queryset if chosen is None else queryset.filter(chosen)


@admin.register(OutboxEvent)
class OutboxEventAdmin(_OutboxAdminBase):
    list_display = ("id", "status", "event", "short_handler", "runs", "due", "short_error")
    list_display_links = ("id",)
    list_filter = (StatusFilter, "event")
    search_fields = ("event", "handler", "event_id", "task_id")
    fields = (
        "event",
        "handler",
        "event_id",
        "created_at",
        "attempts",
        "failures",
        "refusals",
        "available_at",
        "delivered_at",
        "dead_at",
        "task_id",
        "last_error",
    )
    readonly_fields = fields
    actions = ("retry_now",)

    @admin.display(description="status")
    def status(self, row: OutboxEvent) -> str:
        return row.status()

    @admin.display(description="handler")
    def short_handler(self, row: OutboxEvent) -> str:
        return row.handler.rsplit(".", 1)[-1]

    @admin.display(description="runs (failed/handed out)")
    def runs(self, row: OutboxEvent) -> str:
        return f"{row.failures}/{row.attempts}"

    @admin.display(description="due at", ordering="available_at")
    def due(self, row: OutboxEvent) -> str:
        if row.delivered_at is not None or row.dead_at is not None:
            return "-"
        return timezone.localtime(row.available_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="last error")
    def short_error(self, row: OutboxEvent) -> str:
        text = row.last_error
        return text if len(text) <= 90 else text[:89] + "…"

    @admin.action(description="Retry now (make the selected pending or dead rows due)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = outbox.retry(queryset)
        self.message_user(request, f"{count} row(s) due now.", messages.SUCCESS)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Show the liveness warnings of ``regstack_outbox --check`` above the list."""
        if request.method == "GET":
            report = health.health()
            for problem in report.problems:
                self.message_user(request, problem, messages.WARNING)
            for note in report.notes:
                self.message_user(request, note, messages.INFO)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RegStackIdentity)
class RegStackIdentityAdmin(_IdentityAdminBase):
    """Read-only: links are made and kept by the bridge (docs/users.md)."""

    list_display = ["regstack_id", "user", "linked_at"]
    search_fields = ["regstack_id"]
    list_select_related = ["user"]
    readonly_fields = ["regstack_id", "user", "linked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
