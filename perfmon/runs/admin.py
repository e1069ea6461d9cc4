from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from perfmon.core.admin import OperatorAdmin, admin_link
from perfmon.monitors.admin import MonitorAdmin
from perfmon.monitors.models import Monitor
from perfmon.runs.breaches import describe_all
from perfmon.runs.models import Run


@admin.register(Run)
class RunAdmin(OperatorAdmin):
    list_display = ["id", "monitor_link", "tool", "status", "trigger", "agent", "created_at", "completed_at"]
    list_filter = ["status", "trigger", "tool", "tenant"]
    search_fields = ["id", "monitor__name", "tenant__slug"]
    list_select_related = ["monitor", "agent", "tenant"]
    date_hierarchy = "created_at"
    exclude = ["histogram", "breaches"]
    # A run's status and the moments it changed are the lifecycle's (perfmon/runs/lifecycle.py), never an edit's.
    readonly_fields = ["monitor_link", "agent_link", "status", "status_reason", "published_at", "claim_id", "claimed_at",
                       "started_at", "completed_at", "reported_at", "cancel_requested_at", "metrics", "breached",
                       "error"]

    @admin.display(description="monitor")
    def monitor_link(self, run):
        return admin_link(run.monitor)

    @admin.display(description="agent")
    def agent_link(self, run):
        return admin_link(run.agent)

    @admin.display(description="breaches")
    def breached(self, run):
        # In words, as on the dashboard, rather than the stored JSON's bare numbers.
        return format_html_join("", "<div>{}</div>", ((text,) for text in describe_all(run.breaches, run.thresholds)))

    def view_on_site(self, run):
        return reverse("web:run", args=[run.pk])  # the run's dashboard page (charts, logs, comparison)


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


# The monitor's page lists its latest runs. Runs add them to the monitors app's admin
# (re-registered here) so that monitors, which comes first in the app order, never imports runs.
admin.site.unregister(Monitor)


@admin.register(Monitor)
class MonitorWithRunsAdmin(MonitorAdmin):
    readonly_fields = [*MonitorAdmin.readonly_fields, "all_runs"]
    inlines = [*MonitorAdmin.inlines, RunInline]

    @admin.display(description="runs")
    def all_runs(self, monitor):
        url = reverse("admin:runs_run_changelist") + f"?monitor__id__exact={monitor.pk}"
        return format_html('<a href="{}">all runs of this monitor</a> (the latest {} are listed below)', url,
                           RunInline.latest)
