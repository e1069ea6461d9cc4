from django.contrib import admin
from django.urls import reverse

from perfmon.core.admin import OperatorAdmin, ServiceAdmin, ServiceForm
from perfmon.fleet.models import Agent, AgentMetricSample
from perfmon.fleet.services import OPERATOR_FIELDS, set_drained, update_agent


class AgentForm(ServiceForm):
    class Meta:
        model = Agent
        fields = list(OPERATOR_FIELDS)

    def write(self, stored, changes):
        update_agent(agent=stored, **changes)


@admin.register(Agent)
class AgentAdmin(ServiceAdmin):
    list_display = [
        "id", "name", "location", "tenant", "status", "drained", "capacity", "version", "last_heartbeat_at",
    ]
    list_filter = ["location", "drained", "tenant"]
    search_fields = ["id", "name", "hostname", "location"]
    # Credentials are stored as digests and never shown.
    exclude = [
        "enrollment_lookup", "enrollment_hash", "enrollment_expires_at", "credential_lookup", "credential_hash",
    ]
    form = AgentForm
    # Host facts, tools and version are what the agent reports; agents are created with
    # `manage.py create_agent`, which shows the enrollment token once.
    readonly_fields = [
        "id", "tenant", "hostname", "ip_address", "os", "arch", "cpu_cores", "memory_gb", "version", "tools",
        "last_heartbeat_at", "last_metrics", "enrolled_at",
    ]
    actions = ["drain", "undrain"]

    def view_on_site(self, agent):
        return reverse("web:agent", args=[agent.pk])  # host metric charts and running runs

    @admin.display(description="status")
    def status(self, agent):
        return agent.status

    @admin.action(description="Drain selected agents (finish running work, take no new runs)")
    def drain(self, request, queryset):
        for agent in queryset:
            set_drained(agent=agent, drained=True)
        self.report(request, len(queryset), "agent(s) drained", [])

    @admin.action(description="Return selected agents to service")
    def undrain(self, request, queryset):
        for agent in queryset:
            set_drained(agent=agent, drained=False)
        self.report(request, len(queryset), "agent(s) back in service", [])


@admin.register(AgentMetricSample)
class AgentMetricSampleAdmin(OperatorAdmin):
    list_display = ["agent", "recorded_at", "cpu_percent", "memory_percent", "load1", "running_runs"]
    list_filter = ["agent"]
    date_hierarchy = "recorded_at"
