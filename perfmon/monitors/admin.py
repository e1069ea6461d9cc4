from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from perfmon.core.admin import OperatorAdmin, admin_link
from perfmon.monitors.models import Monitor
from perfmon.monitors.schedule import describe
from perfmon.runs.models import Run


class RunInline(admin.TabularInline):
    model = Run
    fk_name = "monitor"
    fields = ["link", "status", "trigger", "agent", "created_at", "completed_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]

    @admin.display(description="run")
    def link(self, run):
        return admin_link(run, str(run.id)[:8])

    # A monitor may have thousands of runs: the inline shows the latest ones, the link the rest.
    latest = 20

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("agent")
        monitor_id = (request.resolver_match.kwargs if request.resolver_match else {}).get("object_id")
        if monitor_id:
            recent = Run.all_tenants.filter(monitor_id=monitor_id).order_by("-created_at")[: self.latest]
            queryset = queryset.filter(pk__in=list(recent.values_list("pk", flat=True)))
        return queryset


@admin.register(Monitor)
class MonitorAdmin(OperatorAdmin):
    list_display = ["name", "tenant", "tool_name", "schedule", "schedule_text", "enabled", "next_run_at", "last_status", "last_run_at"]
    list_filter = ["enabled", "last_status", "tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant", "test"]
    readonly_fields = ["test_link", "schedule_text", "last_run_at", "last_status", "next_run_at", "all_runs"]
    inlines = [RunInline]
    actions = ["enable", "disable"]

    def view_on_site(self, monitor):
        return reverse("web:monitor", args=[monitor.pk])  # the monitor's dashboard page

    @admin.display(description="runs")
    def all_runs(self, monitor):
        url = reverse("admin:runs_run_changelist") + f"?monitor__id__exact={monitor.pk}"
        return format_html('<a href="{}">all runs of this monitor</a> (the latest {} are listed below)', url,
                           RunInline.latest)

    @admin.display(description="tool")
    def tool_name(self, monitor):
        return monitor.test.tool

    @admin.display(description="runs")
    def schedule_text(self, monitor):
        return describe(monitor.schedule)

    @admin.display(description="test definition")
    def test_link(self, monitor):
        return admin_link(monitor.test)

    @admin.action(description="Enable selected monitors")
    def enable(self, request, queryset):
        count = queryset.update(enabled=True)
        self.message_user(request, f"{count} monitor(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected monitors")
    def disable(self, request, queryset):
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} monitor(s) disabled.", messages.SUCCESS)
