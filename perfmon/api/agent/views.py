"""The agent API: enroll, heartbeat, claim, stream series and logs, report the result.

The contract is docs/agents.md; every write is idempotent, so the agent's
spool may retry any post.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from perfmon.api.agent import serializers as s
from perfmon.api.agent.authentication import AgentCredentialAuthentication, StreamCredentialAuthentication
from perfmon.fleet.enrollment import enroll
from perfmon.fleet.heartbeats import record_heartbeat
from perfmon.runs import ingest, parts
from perfmon.runs.agents import runs_to_stop
from perfmon.runs.judge import finish_run
from runners.protocol import ClaimAnswer, ProtocolError, RunReport, agent_queue


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def broker_for_agents() -> tuple[str, dict]:
    """The broker URL and transport options an enrolled agent uses."""
    url = settings.PERFMON_AGENT_BROKER_URL
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS if url.startswith("filesystem://") else {}
    return url, dict(options)


class AgentApiView(APIView):
    authentication_classes = [AgentCredentialAuthentication]
    permission_classes = [IsAuthenticated]
    schema = None  # not part of the public API documents

    @property
    def agent(self):
        return self.request.user.agent


class EnrollView(AgentApiView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        data = _valid(s.EnrollSerializer, request.data)
        facts = {key: data[key] for key in s.HostFactsSerializer().fields if key in data}
        agent, credential = enroll(
            token=data["token"], agent_id=data.get("agent_id"), name=data.get("name", ""),
            location=data.get("location", ""), facts=facts,
        )
        broker_url, options = broker_for_agents()
        return Response(
            {
                "agent_id": agent.pk,
                "credential": credential,
                "broker_url": broker_url,
                "broker_transport_options": options,
                "heartbeat_interval_s": settings.PERFMON_HEARTBEAT_INTERVAL,
                "queue": agent_queue(agent.pk),
            },
            status=status.HTTP_201_CREATED,
        )


class HeartbeatView(AgentApiView):
    def post(self, request):
        data = _valid(s.HeartbeatSerializer, request.data)
        facts = {key: data[key] for key in s.HostFactsSerializer().fields if key in data}
        running_runs = [str(run_id) for run_id in data["running_runs"]]
        record_heartbeat(agent=self.agent, facts=facts, metrics=dict(data["metrics"]), running_runs=running_runs)
        cancel = runs_to_stop(self.agent, running_runs)
        return Response(
            {
                "cancel": cancel,
                "heartbeat_interval_s": settings.PERFMON_HEARTBEAT_INTERVAL,
                "server_time": timezone.now().isoformat().replace("+00:00", "Z"),
            }
        )


class ClaimView(AgentApiView):
    def post(self, request, run_id):
        data = _valid(s.ClaimSerializer, request.data)
        run, part = ingest.agent_target(self.agent, run_id)
        split = None
        if part is None:
            run = ingest.claim_run(agent=self.agent, run_id=run_id, claim_id=data["claim_id"])
        else:
            part = parts.claim_part(agent=self.agent, part=part, claim_id=data["claim_id"])
            split = parts.split_of(part).to_dict()
        test = run.test
        answer = ClaimAnswer(
            run_id=str(run.pk),
            tool=run.tool,
            script=run.script,
            script_filename=test.script_filename if test is not None else "",
            parameters={str(k): str(v) for k, v in (run.parameters or {}).items()},
            thresholds=dict(run.thresholds or {}),
            apdex_t_ms=run.apdex_t_ms,
            time_limit_s=settings.PERFMON_RUN_TIME_LIMIT,
            interval_s=ingest.SERIES_INTERVAL_S,
            split=split,
        )
        return Response(answer.to_dict())


class ReadyView(AgentApiView):
    """A part of a split run is prepared; the answer says wait, or when to start (docs/agents.md)."""

    def post(self, request, run_id):
        _, part = ingest.agent_target(self.agent, run_id)
        if part is None:
            raise ValidationError({"run": ["only a part of a split run reports ready"]})
        return Response(parts.ready(part=part).to_dict())


class StreamView(AgentApiView):
    """A post of series points or log chunks: the agent and its run come from one query."""

    authentication_classes = [StreamCredentialAuthentication]

    def target(self, run_id) -> ingest.StreamTarget:
        target = getattr(self.request.user, "target", None)
        return target if target is not None else ingest.target_for(self.agent, run_id)


class SeriesView(StreamView):
    def post(self, request, run_id):
        target = self.target(run_id)
        rows = s.series_rows(request.body, target)
        accepted, cancel = ingest.store_series_rows(target, rows)
        return Response({"accepted": accepted, "cancel": cancel})


class LogsView(StreamView):
    def post(self, request, run_id):
        target = self.target(run_id)
        data = _valid(s.LogsSerializer, request.data)
        chunks = [(chunk["seq"], chunk["text"]) for chunk in data["chunks"]]
        accepted, cancel = ingest.store_log_rows(target, chunks)
        return Response({"accepted": accepted, "cancel": cancel})


class ResultView(AgentApiView):
    """The run's (or part's) report: judged once; its repeat answers the stored status, and a report of
    another claim or for a run ended without one is refused with 409 stale_claim (docs/agents.md)."""

    def post(self, request, run_id):
        try:
            report = RunReport.from_dict(request.data)
        except ProtocolError as exc:
            raise ValidationError({exc.field: [exc.reason]} if exc.field else [exc.reason]) from None
        run, part = ingest.agent_target(self.agent, run_id)
        if part is None:
            run = finish_run(agent=self.agent, run_id=run_id, report=report)
        else:
            run = parts.finish_part(part=part, report=report)
        return Response({"status": run.status})
