"""Admin: browse the audit trail, read-only (it is a record, not data to edit)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from testproject.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created_at", "event", "email", "user_id", "details", "sender")
    list_filter = ("event",)
    search_fields = ("email",)
    date_hierarchy = "created_at"
    readonly_fields = ("event", "user_id", "email", "details", "sender", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
