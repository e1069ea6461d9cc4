from django import forms
from django.contrib import admin
from django.urls import reverse

from perfmon.core.admin import ServiceAdmin, ServiceForm, admin_link
from perfmon.core.errors import PerfmonError
from perfmon.definitions.models import Tool
from perfmon.monitors.models import Monitor
from perfmon.monitors.schedule import describe
from perfmon.monitors.services import delete_monitor, update_monitor


class MonitorForm(ServiceForm):
    # The monitor's own test definition, changed with it in one update_monitor call.
    tool = forms.ChoiceField(choices=Tool.choices)
    script = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}), strip=False)
    script_filename = forms.CharField(required=False, max_length=255)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        test = self.instance.test if self.instance.test_id else None
        if test is not None:
            self.initial.update(tool=test.tool, script=test.script, script_filename=test.script_filename)

    class Meta:
        model = Monitor
        # What update_monitor changes, in the order an operator reads them.
        fields = ["name", "enabled", "schedule", "timezone", "thresholds", "apdex_t_ms", "parameters", "agent",
                  "location", "alert_after_failures", "maintenance_cron", "maintenance_minutes", "maintenance_start",
                  "maintenance_end", "tool", "script_filename", "script"]

    def clean_script(self):
        # Browsers send a textarea's line breaks as CRLF; scripts are stored with LF.
        return self.cleaned_data["script"].replace("\r\n", "\n")

    def write(self, stored, changes):
        # Validates the schedule and thresholds and keeps next_run_at right, as for every caller.
        update_monitor(tenant=stored.tenant, monitor=stored, **changes)


@admin.register(Monitor)
class MonitorAdmin(ServiceAdmin):
    form = MonitorForm
    list_display = ["name", "tenant", "tool_name", "schedule", "schedule_text", "enabled", "next_run_at", "last_status", "last_run_at"]
    list_filter = ["enabled", "last_status", "tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant", "test"]
    # Timing and last-run fields are the scheduler's; the tenant and test are fixed at creation.
    # The monitor's runs are added to this page by perfmon/runs/admin.py (runs comes after monitors).
    readonly_fields = ["tenant", "test_link", "schedule_text", "next_run_at", "last_run_at", "last_status"]
    actions = ["enable", "disable"]

    def view_on_site(self, monitor):
        return reverse("web:monitor", args=[monitor.pk])  # the monitor's dashboard page

    @admin.display(description="tool")
    def tool_name(self, monitor):
        return monitor.test.tool

    @admin.display(description="runs")
    def schedule_text(self, monitor):
        return describe(monitor.schedule)

    @admin.display(description="test definition")
    def test_link(self, monitor):
        return admin_link(monitor.test)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        done, failures = 0, []
        for monitor in queryset.select_related("tenant"):
            try:
                # Enabling computes next_run_at (and checks the schedule against the tier) like every caller.
                update_monitor(tenant=monitor.tenant, monitor=monitor, enabled=enabled)
            except PerfmonError as exc:
                failures.append(f"{monitor}: {exc.message}")
                continue
            done += 1
        self.report(request, done, f"monitor(s) {'enabled' if enabled else 'disabled'}", failures)

    @admin.action(description="Enable selected monitors")
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected monitors")
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def delete_model(self, request, obj):
        delete_monitor(tenant=obj.tenant, monitor=obj)  # with its test definition

    def delete_queryset(self, request, queryset):
        for monitor in queryset.select_related("tenant"):
            delete_monitor(tenant=monitor.tenant, monitor=monitor)
