from django.contrib import admin, messages
from django.urls import reverse

from perfmon.core.admin import OperatorAdmin
from perfmon.fleet.models import Agent, AgentMetricSample


@admin.register(Agent)
class AgentAdmin(OperatorAdmin):
    list_display = [
        "id", "name", "location", "tenant", "status", "drained", "capacity", "version", "last_heartbeat_at",
    ]
    list_filter = ["location", "drained", "tenant"]
    search_fields = ["id", "name", "hostname", "location"]
    # Credentials are stored as digests and never shown.
    exclude = [
        "enrollment_lookup", "enrollment_hash", "enrollment_expires_at", "credential_lookup", "credential_hash",
    ]
    readonly_fields = ["last_heartbeat_at", "last_metrics", "enrolled_at", "tools", "version"]
    actions = ["drain", "undrain"]

    def view_on_site(self, agent):
        return reverse("web:agent", args=[agent.pk])  # host metric charts and running runs

    @admin.display(description="status")
    def status(self, agent):
        return agent.status

    @admin.action(description="Drain selected agents (finish running work, take no new runs)")
    def drain(self, request, queryset):
        count = queryset.update(drained=True)
        self.message_user(request, f"{count} agent(s) drained.", messages.SUCCESS)

    @admin.action(description="Return selected agents to service")
    def undrain(self, request, queryset):
        count = queryset.update(drained=False)
        self.message_user(request, f"{count} agent(s) back in service.", messages.SUCCESS)


@admin.register(AgentMetricSample)
class AgentMetricSampleAdmin(OperatorAdmin):
    list_display = ["agent", "recorded_at", "cpu_percent", "memory_percent", "load1", "running_runs"]
    list_filter = ["agent"]
    date_hierarchy = "recorded_at"
