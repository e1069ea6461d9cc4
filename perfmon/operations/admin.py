from django.contrib import admin

from perfmon.operations.models import AuditEntry, TenantSettings


@admin.register(TenantSettings)
class TenantSettingsAdmin(admin.ModelAdmin):
    list_display = ("tenant", "series_retention_days", "run_retention_days", "alert_retention_days")
    list_select_related = ("tenant",)
    search_fields = ("tenant__slug", "tenant__name")
    filter_horizontal = ("run_completed_channels",)

    def get_queryset(self, request):
        return TenantSettings.all_tenants.select_related("tenant")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by the system, never edited."""

    list_display = ("at", "tenant", "actor", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type", "tenant", ("at", admin.DateFieldListFilter))
    search_fields = ("actor", "object_repr", "object_id")
    date_hierarchy = "at"
    list_select_related = ("tenant",)
    readonly_fields = ("at", "tenant", "actor", "action", "object_type", "object_id", "object_repr", "changes")

    def get_queryset(self, request):
        return AuditEntry.all_tenants.select_related("tenant")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
