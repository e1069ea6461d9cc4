from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join

from perfmon.core.admin import OperatorAdmin, admin_link
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
    readonly_fields = ["monitor_link", "agent_link", "metrics", "breached", "error", "status_reason"]

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
