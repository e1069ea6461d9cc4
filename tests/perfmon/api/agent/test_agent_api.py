"""The agent API over HTTP: enrollment, heartbeats, claims, idempotent streams, judgement."""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.fleet.models import Agent, AgentMetricSample
from perfmon.fleet.services import create_agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunLogChunk, RunStatus, SeriesPoint
from perfmon.runs.services import cancel_run
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.perfmon.api.agent.conftest import AgentClient


def a_result(latencies_ms, statuses=None, apdex_t_ms=500):
    builder = ResultBuilder(apdex_t_ms=apdex_t_ms)
    start = time.time() - 10
    for i, latency in enumerate(latencies_ms):
        status = statuses[i] if statuses else 200
        builder.add(RequestRecord(ts=start + i * 0.01, latency_ms=latency, status=status))
    return builder.result().to_dict()


# --- enrollment and authentication --------------------------------------------------------

def test_enrollment_token_works_once_and_credential_is_stored_hashed(client, acme):
    token = create_agent(agent_id="acme-1", location="eu", tenant=acme).enrollment_token
    first = AgentClient(client).post("/enroll", {"token": token, "location": "eu-west-1", "capacity": 3})
    assert first.status_code == 201
    body = first.json()
    assert body["agent_id"] == "acme-1" and body["queue"] == "agent.acme-1" and body["broker_url"]
    assert body["credential"].startswith("pma_")
    agent = Agent.all_tenants.get(pk="acme-1")
    assert (agent.location, agent.capacity) == ("eu-west-1", 3)
    assert body["credential"] not in (agent.credential_hash, agent.credential_lookup)
    again = AgentClient(client).post("/enroll", {"token": token})
    assert again.status_code == 401 and again.json()["error"] == "unauthorized"


def test_expired_or_mismatched_enrollment_is_refused(client, acme):
    token = create_agent(agent_id="acme-1", location="eu", tenant=acme).enrollment_token
    mismatch = AgentClient(client).post("/enroll", {"token": token, "agent_id": "acme-2"})
    assert mismatch.status_code == 409 and "belongs to agent 'acme-1'" in mismatch.json()["message"]
    Agent.all_tenants.filter(pk="acme-1").update(enrollment_expires_at=timezone.now() - timedelta(seconds=1))
    expired = AgentClient(client).post("/enroll", {"token": token})
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_a_second_agent_of_the_tenant_on_one_host_is_409_and_keeps_its_token(client, acme):
    for agent_id in ("acme-1", "acme-2"):
        token = create_agent(agent_id=agent_id, location="eu", tenant=acme).enrollment_token
        response = AgentClient(client).post("/enroll", {"token": token, "hostname": "gen-7"})
    assert response.status_code == 409 and "gen-7" in response.json()["message"], response.content
    second = Agent.all_tenants.get(pk="acme-2")
    assert second.enrolled_at is None and second.credential_hash == "" and second.enrollment_hash


@pytest.mark.django_db
def test_enroll_validates_its_input(client):
    response = AgentClient(client).post("/enroll", {"capacity": 0})
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"token", "capacity"}


def test_credentials_do_not_cross_surfaces(client, enrolled, acme_key):
    assert client.get("/api/", headers={"Authorization": f"Bearer {enrolled.credential}"}).status_code == 401
    assert client.get("/api/", headers={"X-API-Key": enrolled.credential}).status_code == 401
    for credential in (acme_key, "pma_aaaaaaaaaa_nope", ""):
        response = AgentClient(client, credential or None).post("/heartbeat", {})
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


# --- heartbeat -------------------------------------------------------------------------------

def test_heartbeat_records_facts_and_a_metric_sample(enrolled):
    response = enrolled.post("/heartbeat", {
        "version": "0.1.0", "tools": {"k6": "1.1.0", "locust": "2.47.0"}, "hostname": "runner-1",
        "ip_address": "127.0.0.1", "os": "linux", "arch": "x86_64", "cpu_cores": 2, "memory_gb": 23.4,
        "metrics": {"cpu_percent": 12.5, "memory_percent": 40.0, "load1": 0.3, "disk_free_gb": 80.0},
        "running_runs": [],
    })
    assert response.status_code == 200 and response.json()["cancel"] == []
    agent = Agent.all_tenants.get(pk="acme-1")
    assert agent.tools == {"k6": "1.1.0", "locust": "2.47.0"} and agent.hostname == "runner-1"
    assert agent.status == "online"
    sample = AgentMetricSample.all_tenants.filter(agent=agent).latest("recorded_at")
    assert (sample.cpu_percent, sample.load1) == (12.5, 0.3)


def test_heartbeat_answer_lists_runs_to_cancel(acme, enrolled, queued_run):
    claim = enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    assert claim.status_code == 200
    assert enrolled.post("/heartbeat", {"running_runs": [str(queued_run.pk)]}).json()["cancel"] == []
    cancel_run(tenant=acme, run_id=queued_run.pk, actor="alice")
    assert enrolled.post("/heartbeat", {"running_runs": [str(queued_run.pk)]}).json()["cancel"] == [str(queued_run.pk)]


def test_heartbeat_tells_agent_to_stop_a_run_that_already_ended_here(acme, enrolled, queued_run):
    enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    Run.all_tenants.filter(pk=queued_run.pk).update(status=RunStatus.ERROR)
    assert enrolled.post("/heartbeat", {"running_runs": [str(queued_run.pk)]}).json()["cancel"] == [str(queued_run.pk)]


# --- claim -----------------------------------------------------------------------------------

def test_claim_starts_the_run_and_returns_what_to_run(enrolled, queued_run):
    claim_id = str(uuid.uuid4())
    response = enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": claim_id})
    assert response.status_code == 200
    body = response.json()
    assert (body["tool"], body["script"], body["apdex_t_ms"]) == ("k6", queued_run.script, 500)
    assert body["thresholds"] == {"latencyMs": 100, "errorRatePercent": 10}
    run = Run.all_tenants.get(pk=queued_run.pk)
    assert run.status == RunStatus.RUNNING and run.started_at and str(run.claim_id) == claim_id
    # An HTTP retry of the same claim is answered again...
    assert enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": claim_id}).status_code == 200
    # ...but a redelivered message (a new execution) must not start a second load.
    second = enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    assert second.status_code == 409 and second.json()["error"] == "already_claimed"


def test_claim_of_a_run_cancelled_before_start_is_refused(acme, enrolled, queued_run):
    cancel_run(tenant=acme, run_id=queued_run.pk)
    response = enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    assert response.status_code == 409 and response.json()["error"] == "run_finished"


def test_agent_cannot_touch_another_agents_runs(client, acme, enrolled, queued_run):
    token = create_agent(agent_id="acme-2", location="eu", tenant=acme).enrollment_token
    other = AgentClient(client, AgentClient(client).post("/enroll", {"token": token}).json()["credential"])
    for path, data in [("claim", {"claim_id": str(uuid.uuid4())}), ("logs", {"chunks": []}),
                       ("result", {"outcome": "completed"})]:
        assert other.post(f"/runs/{queued_run.pk}/{path}", data).status_code == 404
    assert other.post("/runs/not-a-uuid/claim", {"claim_id": str(uuid.uuid4())}).status_code == 404
    assert Run.all_tenants.get(pk=queued_run.pk).status == RunStatus.QUEUED


# --- streams ---------------------------------------------------------------------------------

def test_series_are_stored_once_whatever_the_retries(enrolled, queued_run):
    enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    result = a_result([10, 20, 30])
    point = {**result["series"][0]}
    batch = [{**point, "seq": seq} for seq in range(3)]
    first = enrolled.post(f"/runs/{queued_run.pk}/series", {"points": batch[:2]})
    assert first.status_code == 200 and first.json() == {"accepted": 2, "cancel": False}
    retried = enrolled.post(f"/runs/{queued_run.pk}/series", {"points": batch})  # overlaps the first
    assert retried.json()["accepted"] == 1
    assert enrolled.post(f"/runs/{queued_run.pk}/series", {"points": batch}).json()["accepted"] == 0
    stored = list(SeriesPoint.all_tenants.filter(run_id=queued_run.pk).order_by("seq"))
    assert [p.seq for p in stored] == [0, 1, 2]
    assert stored[0].count == point["count"] and stored[0].histogram == point["histogram"]


@pytest.mark.parametrize(
    "points",
    [None, "x", [{"seq": 0}], [{"seq": -1, "start": 0, "interval_s": 5, "count": 1, "errors": 0, "p50_ms": 1,
                                "p95_ms": 1, "p99_ms": 1, "throughput_rps": 0.2}]],
)
def test_malformed_series_are_rejected_and_change_nothing(enrolled, queued_run, points):
    response = enrolled.post(f"/runs/{queued_run.pk}/series", {"points": points})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert not SeriesPoint.all_tenants.filter(run_id=queued_run.pk).exists()


def test_log_chunks_are_idempotent_and_ordered_by_seq(enrolled, queued_run):
    enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    chunks = [{"seq": 2, "text": "c"}, {"seq": 0, "text": "a\n"}, {"seq": 1, "text": "b  "}]
    assert enrolled.post(f"/runs/{queued_run.pk}/logs", {"chunks": chunks}).json() == {"accepted": 3, "cancel": False}
    assert enrolled.post(f"/runs/{queued_run.pk}/logs", {"chunks": chunks}).json()["accepted"] == 0
    texts = RunLogChunk.all_tenants.filter(run_id=queued_run.pk).order_by("seq").values_list("text", flat=True)
    assert "".join(texts) == "a\nb  c"


def test_stream_answer_asks_to_cancel(acme, enrolled, queued_run):
    enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    cancel_run(tenant=acme, run_id=queued_run.pk)
    assert enrolled.post(f"/runs/{queued_run.pk}/logs", {"chunks": [{"seq": 0, "text": "x"}]}).json()["cancel"] is True


# --- result and judgement --------------------------------------------------------------------

def finish(enrolled, run, **report):
    enrolled.post(f"/runs/{run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    return enrolled.post(f"/runs/{run.pk}/result", report)


def test_completed_run_within_thresholds_passes(enrolled, queued_run):
    response = finish(enrolled, queued_run, outcome="completed", exit_code=0, result=a_result([10, 20, 30, 40]))
    assert response.status_code == 200 and response.json() == {"status": "pass"}
    run = Run.all_tenants.get(pk=queued_run.pk)
    assert run.status == RunStatus.PASS and run.breaches == [] and run.completed_at
    assert run.metrics["count"] == 4 and run.metrics["errors"] == 0 and run.histogram
    monitor = Monitor.all_tenants.get(pk=queued_run.monitor_id)
    assert monitor.last_status == "pass" and monitor.last_run_at == run.completed_at


def test_breached_thresholds_fail_the_run_with_the_breaches(enrolled, queued_run):
    latencies = [50] * 8 + [400, 400]
    statuses = [200] * 7 + [500, 200, 200]
    response = finish(enrolled, queued_run, outcome="completed", exit_code=0,
                      result=a_result(latencies, statuses))
    assert response.json() == {"status": "fail"}
    breaches = {b["metric"]: b for b in Run.all_tenants.get(pk=queued_run.pk).breaches}
    assert breaches["latencyMs"]["threshold"] == 100 and breaches["latencyMs"]["actual"] == pytest.approx(400, rel=1e-3)
    assert set(breaches) == {"latencyMs"}  # 10 % errors is not above the 10 % threshold


@pytest.mark.parametrize(
    ("report", "status", "error"),
    [
        ({"outcome": "tool_failed", "exit_code": 107, "error": "script error: SyntaxError"}, "error", "SyntaxError"),
        ({"outcome": "timed_out"}, "error", "time limit"),
        ({"outcome": "agent_error", "error": "agent acme-1 has no jmeter"}, "error", "no jmeter"),
        ({"outcome": "completed", "exit_code": 0, "result": None}, "error", "without making any request"),
        ({"outcome": "cancelled"}, "cancelled", ""),
    ],
)
def test_unjudgeable_runs_end_in_error_or_cancelled(enrolled, queued_run, report, status, error):
    assert finish(enrolled, queued_run, **report).json() == {"status": status}
    run = Run.all_tenants.get(pk=queued_run.pk)
    assert run.status == status and error in run.error


def test_result_posted_twice_changes_nothing(enrolled, queued_run):
    finish(enrolled, queued_run, outcome="completed", exit_code=0, result=a_result([10]))
    completed = Run.all_tenants.get(pk=queued_run.pk).completed_at
    again = enrolled.post(f"/runs/{queued_run.pk}/result", {"outcome": "tool_failed", "error": "late"})
    assert again.json() == {"status": "pass"}
    run = Run.all_tenants.get(pk=queued_run.pk)
    assert (run.status, run.error, run.completed_at) == (RunStatus.PASS, "", completed)


def test_malformed_result_is_rejected(enrolled, queued_run):
    response = finish(enrolled, queued_run, outcome="completed", result={"count": "many"})
    assert response.status_code == 400 and "result" in response.json()["details"]
    assert Run.all_tenants.get(pk=queued_run.pk).status == RunStatus.RUNNING
