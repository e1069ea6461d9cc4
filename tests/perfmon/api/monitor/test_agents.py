"""Agents and their metrics over /api."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from perfmon.fleet.models import AgentMetricSample
from perfmon.runs.models import RunStatus
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope, make_run


def test_agents_are_the_tenants_and_the_shared_ones(api, acme, globex, acme_key):
    make_agent("eu-west-1", tenant=acme, location="eu-west-1")
    make_agent("shared-us", tenant=None, location="us-east-1", online=False)
    make_agent("globex-1", tenant=globex)
    body = api.get("/api/agents", key=acme_key).json()
    assert isinstance(body, list)
    assert [a["id"] for a in body] == ["eu-west-1", "shared-us"]
    eu, shared = body
    assert {"id", "name", "status", "lastHeartbeat", "location"} <= set(eu)
    assert (eu["status"], eu["location"], eu["shared"]) == ("online", "eu-west-1", False)
    assert (shared["status"], shared["lastHeartbeat"], shared["shared"]) == ("offline", None, True)
    assert eu["tools"] == {"k6": "1.0"}


def test_status_goes_offline_after_missed_heartbeats(api, acme, acme_key, settings):
    agent = make_agent("eu-west-1", tenant=acme)
    agent.last_heartbeat_at = timezone.now() - timedelta(seconds=settings.PERFMON_AGENT_OFFLINE_AFTER + 5)
    agent.save()
    assert api.get("/api/agents", key=acme_key).json()[0]["status"] == "offline"


def test_agents_list_query_count_is_bounded(api, acme, acme_key, django_assert_max_num_queries):
    for index in range(15):
        make_agent(f"a{index}", tenant=acme)
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/agents", key=acme_key).json()) == 15


def test_agent_metrics_has_recent_samples_and_the_tenants_run_counts(api, acme, globex, acme_key):
    agent = make_agent("shared-1", tenant=None)
    now = timezone.now()
    for minutes in range(100):
        AgentMetricSample.all_tenants.create(
            agent=agent, recorded_at=now - timedelta(minutes=minutes), cpu_percent=float(minutes),
            memory_percent=40.0, load1=0.5, disk_free_gb=12.0, running_runs=1,
        )
    monitor = make_monitor(acme)
    make_run(acme, monitor, agent=agent, status=RunStatus.PASS)
    make_run(acme, monitor, agent=agent, status=RunStatus.FAIL)
    make_run(acme, monitor, agent=agent, status=RunStatus.RUNNING)
    make_run(acme, monitor, agent=agent, status=RunStatus.PASS, created_at=now - timedelta(days=2))
    make_run(globex, make_monitor(globex), agent=agent, status=RunStatus.PASS)  # never counted for acme
    body = api.get("/api/agents/shared-1/metrics", key=acme_key).json()
    assert set(body) == {"agentId", "status", "lastHeartbeat", "samples", "runs"}
    assert body["agentId"] == "shared-1" and body["status"] == "online"
    assert len(body["samples"]) == 60
    assert [s["cpuPercent"] for s in body["samples"][:3]] == [0.0, 1.0, 2.0]  # newest first
    assert set(body["samples"][0]) == {"recordedAt", "cpuPercent", "memoryPercent", "load1", "diskFreeGb",
                                       "runningRuns"}
    assert body["runs"] == {"windowHours": 24, "total": 3, "active": 1,
                            "byStatus": {"pass": 1, "fail": 1, "running": 1}}
    limited = api.get("/api/agents/shared-1/metrics?limit=5", key=acme_key).json()
    assert len(limited["samples"]) == 5


def test_agent_metrics_validate_limit_and_404(api, acme, acme_key):
    make_agent("eu-1", tenant=acme)
    assert "limit" in assert_envelope(api.get("/api/agents/eu-1/metrics?limit=5000", key=acme_key), 400)["details"]
    assert_envelope(api.get("/api/agents/nope/metrics", key=acme_key), 404, "not_found")
    assert_envelope(api.get("/api/agents/%E2%98%83/metrics", key=acme_key), 404, "not_found")


def test_agent_without_samples_has_empty_metrics(api, acme, acme_key):
    make_agent("idle", tenant=acme, online=False)
    body = api.get("/api/agents/idle/metrics", key=acme_key).json()
    assert body["samples"] == [] and body["lastHeartbeat"] is None and body["status"] == "offline"
    assert body["runs"] == {"windowHours": 24, "total": 0, "active": 0, "byStatus": {}}
