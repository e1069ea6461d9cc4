from django.contrib import admin, messages
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertState
from perfmon.core.admin import OperatorAdmin, admin_link


@admin.register(Alert)
class AlertAdmin(OperatorAdmin):
    list_display = ["title", "kind", "state", "tenant", "monitor_link", "occurrences", "opened_at", "resolved_at"]
    list_filter = ["state", "kind", "tenant"]
    search_fields = ["title", "monitor__name", "tenant__slug"]
    list_select_related = ["monitor", "tenant"]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]

    @admin.display(description="monitor")
    def monitor_link(self, alert):
        return admin_link(alert.monitor)

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        count = queryset.filter(state=AlertState.OPEN).update(
            state=AlertState.ACKNOWLEDGED,
            acknowledged_at=timezone.now(),
            acknowledged_by=request.user,
            acknowledged_by_label=request.user.get_username(),
        )
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)
