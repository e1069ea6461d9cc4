"""Agents: the tenant's and the shared ones, and one agent's recent host metrics and run counts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.common.pagination import parse_window, window_parameters
from perfmon.api.monitor.schema import errors, path_id
from perfmon.api.monitor.serializers import AgentMetricsSerializer, AgentSerializer
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.fleet.selectors import agent_visible_to, agents_for_tenant, recent_samples
from perfmon.runs.agents import run_counts
from perfmon.runs.models import RunStatus

SAMPLES_DEFAULT_LIMIT = 60
SAMPLES_MAX_LIMIT = 1000
RUN_COUNT_WINDOW = timedelta(hours=24)


class AgentListView(MonitorApiView):
    @extend_schema(
        summary="List agents",
        description=(
            "The tenant's own agents and the shared ones, by id. `status` is online while heartbeats "
            "arrive within PERFMON_AGENT_OFFLINE_AFTER seconds."
        ),
        responses={200: AgentSerializer(many=True), **errors()},
    )
    def get(self, request: Request) -> Response:
        return Response(AgentSerializer(agents_for_tenant(self.tenant).order_by("id"), many=True).data)


class AgentMetricsView(MonitorApiView):
    @extend_schema(
        summary="Get agent metrics",
        description=(
            "The agent's latest host metric samples (one per heartbeat, newest first; host-wide figures) "
            "and the counts of this tenant's runs it took in the last 24 hours."
        ),
        parameters=[
            path_id("agentId", OpenApiTypes.STR, "the agent's id, e.g. eu-west-1"),
            *window_parameters(default_limit=SAMPLES_DEFAULT_LIMIT, max_limit=SAMPLES_MAX_LIMIT, max_offset=0),
        ],
        responses={200: AgentMetricsSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, agentId: str) -> Response:  # noqa: N803 - the documented name
        agent = agent_visible_to(self.tenant, agentId)
        window = parse_window(
            request.query_params, default_limit=SAMPLES_DEFAULT_LIMIT, max_limit=SAMPLES_MAX_LIMIT, max_offset=0
        )
        counts = run_counts(self.tenant, agent, since=timezone.now() - RUN_COUNT_WINDOW)
        return Response(
            AgentMetricsSerializer(
                {
                    "agent_id": agent.pk,
                    "status": agent.status,
                    "last_heartbeat": agent.last_heartbeat_at,
                    "samples": recent_samples(self.tenant, agent, limit=window.limit),
                    "runs": {
                        "window_hours": int(RUN_COUNT_WINDOW.total_seconds() // 3600),
                        "total": sum(counts.values()),
                        "active": sum(counts.get(name, 0) for name in RunStatus.active()),
                        "by_status": counts,
                    },
                }
            ).data
        )
