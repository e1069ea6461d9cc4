"""Manual runs, the runs list, one run, and its logs over /api."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus, RunTrigger
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope, make_run

RESULT_METRICS = {
    "count": 7440, "errors": 7, "error_rate": 0.001, "min_ms": 88.0, "avg_ms": 158.0, "p50_ms": 142.0,
    "p90_ms": 300.0, "p95_ms": 387.0, "p99_ms": 512.5, "max_ms": 1204.0, "throughput_rps": 12.4,
    "duration_s": 600.0, "apdex": 0.93, "apdex_t_ms": 500.0,
}


# --- manual run -----------------------------------------------------------


def test_manual_run_is_accepted_at_once_and_queued_for_an_agent(api, acme, acme_key):
    make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme)
    response = api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key)
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"runId", "status"} and body["status"] == "queued"
    run = Run.objects.for_tenant(acme).get(pk=body["runId"])
    assert (run.monitor_id, run.trigger, run.agent_id) == (monitor.pk, RunTrigger.MANUAL, "acme-1")
    assert response["Location"].endswith(f"/api/runs/{run.pk}")


def test_manual_run_while_one_is_queued_or_running_is_409(api, acme, acme_key):
    make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme)
    assert api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key).status_code == 202
    assert_envelope(api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key), 409, "conflict")
    Run.objects.for_tenant(acme).update(status=RunStatus.RUNNING)
    assert_envelope(api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key), 409)
    Run.objects.for_tenant(acme).update(status=RunStatus.PASS)
    assert api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key).status_code == 202
    assert Run.objects.for_tenant(acme).count() == 2


def test_manual_run_without_any_agent_reports_the_error(api, acme, acme_key):
    monitor = make_monitor(acme)
    response = api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key)
    assert response.status_code == 202
    assert response.json()["status"] == "error"
    assert "no agent available" in Run.objects.for_tenant(acme).get().error


def test_manual_run_of_a_disabled_monitor_is_allowed(api, acme, acme_key):
    make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme, enabled=False)
    assert api.post(f"/api/monitors/{monitor.pk}/run", key=acme_key).json()["status"] == "queued"


# --- runs list ------------------------------------------------------------


@pytest.fixture
def history(acme):
    """A monitor with 30 runs, one a minute, the newest last created."""
    monitor = make_monitor(acme)
    start = timezone.now() - timedelta(hours=1)
    runs = [make_run(acme, monitor, created_at=start + timedelta(minutes=i)) for i in range(30)]
    return monitor, runs


def test_runs_are_listed_newest_first_in_the_envelope(api, acme_key, history):
    monitor, runs = history
    body = api.get(f"/api/monitors/{monitor.pk}/runs", key=acme_key).json()
    assert set(body) == {"runs", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (30, 20, 0)
    assert [r["id"] for r in body["runs"]] == [str(r.pk) for r in reversed(runs)][:20]


def test_runs_limit_and_offset_page_through(api, acme_key, history):
    monitor, runs = history
    newest_first = [str(r.pk) for r in reversed(runs)]
    body = api.get(f"/api/monitors/{monitor.pk}/runs?limit=7&offset=21", key=acme_key).json()
    assert [r["id"] for r in body["runs"]] == newest_first[21:28]
    beyond = api.get(f"/api/monitors/{monitor.pk}/runs?limit=100&offset=500", key=acme_key).json()
    assert beyond["runs"] == [] and beyond["total"] == 30


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("limit=2.5", "limit"),
     ("offset=-1", "offset"), ("offset=x", "offset"), ("limit=-5", "limit")],
)
def test_runs_list_rejects_out_of_range_parameters(api, acme, acme_key, query, field):
    monitor = make_monitor(acme)
    body = assert_envelope(api.get(f"/api/monitors/{monitor.pk}/runs?{query}", key=acme_key), 400)
    assert field in body["details"]


def test_runs_list_has_only_that_monitors_runs(api, acme, acme_key, history):
    monitor, _ = history
    other = make_monitor(acme)
    make_run(acme, other)
    body = api.get(f"/api/monitors/{monitor.pk}/runs?limit=100", key=acme_key).json()
    assert body["total"] == 30 and all(r["monitorId"] == str(monitor.pk) for r in body["runs"])


def test_runs_list_query_count_is_bounded(api, acme_key, history, django_assert_max_num_queries):
    monitor, _ = history
    # key lookup + key touch + monitor + page + count
    with django_assert_max_num_queries(5):
        body = api.get(f"/api/monitors/{monitor.pk}/runs?limit=100", key=acme_key).json()
    assert len(body["runs"]) == 30


# --- one run --------------------------------------------------------------

DOCUMENTED_RUN_FIELDS = {
    "id", "monitorId", "startedAt", "completedAt", "status", "tool", "metrics", "thresholdBreaches", "agentId",
}


def test_run_has_exactly_the_documented_fields_and_richer_metrics(api, acme, acme_key):
    agent = make_agent("default", tenant=acme)
    monitor = make_monitor(acme)
    breach = {"metric": "latencyMs", "threshold": 300.0, "actual": 387.0}
    run = make_run(acme, monitor, status=RunStatus.FAIL, agent=agent, metrics=RESULT_METRICS, breaches=[breach])
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()
    assert set(body) == DOCUMENTED_RUN_FIELDS
    assert (body["id"], body["monitorId"], body["status"], body["tool"], body["agentId"]) == (
        str(run.pk), str(monitor.pk), "fail", "k6", "default")
    assert body["startedAt"].endswith("Z") and body["completedAt"].endswith("Z")
    assert body["metrics"] == {
        "p50": 142.0, "p95": 387.0, "avg": 158.0, "errorRate": 0.001, "throughput": 12.4,
        "p99": 512.5, "min": 88.0, "max": 1204.0, "totalRequests": 7440, "apdex": 0.93,
    }
    assert body["thresholdBreaches"] == [breach]


def test_a_queued_run_has_null_metrics_and_times(api, acme, acme_key):
    run = make_run(acme, make_monitor(acme), status=RunStatus.QUEUED)
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()
    assert body["status"] == "queued" and body["startedAt"] is None and body["completedAt"] is None
    assert body["agentId"] is None and body["thresholdBreaches"] == []
    assert set(body["metrics"]) == {"p50", "p95", "avg", "errorRate", "throughput", "p99", "min", "max",
                                    "totalRequests", "apdex"}
    assert all(value is None for value in body["metrics"].values())


def test_run_of_a_deleted_monitor_is_still_readable(api, acme, acme_key):
    run = make_run(acme, None)
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()
    assert body["monitorId"] is None


@pytest.mark.parametrize("bad_id", ["nope", "42", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_run_id_is_404(api, acme_key, bad_id):
    assert_envelope(api.get(f"/api/runs/{bad_id}", key=acme_key), 404, "not_found")
    assert_envelope(api.get(f"/api/runs/{bad_id}/logs", key=acme_key), 404, "not_found")


# --- logs -----------------------------------------------------------------


def test_logs_are_plain_text_whole_and_in_order_streamed(api, acme, acme_key):
    chunks = [f"line {i}\n" for i in range(500)]
    run = make_run(acme, make_monitor(acme), logs=chunks)
    # Stored out of order: the response must follow seq, not insertion order.
    from perfmon.runs.models import RunLogChunk

    RunLogChunk.all_tenants.filter(run=run, seq=0).delete()
    RunLogChunk.all_tenants.create(run=run, seq=0, text=chunks[0])
    response = api.get(f"/api/runs/{run.pk}/logs", key=acme_key)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.streaming
    pieces = list(response.streaming_content)
    assert len(pieces) == 500  # one piece per chunk, never one big string
    assert b"".join(pieces).decode() == "".join(chunks)
    assert response["X-Run-Status"] == "pass"


def test_logs_keep_unicode_and_are_empty_without_output(api, acme, acme_key):
    run = make_run(acme, make_monitor(acme), logs=["✓ checks 100%\n", "naïve ☃\n"])
    response = api.get(f"/api/runs/{run.pk}/logs", key=acme_key, HTTP_ACCEPT="text/plain")
    assert b"".join(response.streaming_content).decode("utf-8") == "✓ checks 100%\nnaïve ☃\n"
    empty = make_run(acme, make_monitor(acme), status=RunStatus.QUEUED)
    response = api.get(f"/api/runs/{empty.pk}/logs", key=acme_key)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b""


def test_logs_error_for_a_text_client_is_still_the_envelope_text(api, acme_key):
    response = api.get("/api/runs/nope/logs", key=acme_key, HTTP_ACCEPT="text/plain")
    assert response.status_code == 404
    assert b'"error":"not_found"' in response.content


def test_metrics_of_a_real_result_as_the_judge_stores_them(api, acme, acme_key):
    from runners.records import RequestRecord
    from runners.result import ResultBuilder
    from runners.thresholds import evaluate

    builder = ResultBuilder()
    for index in range(100):
        latency = 100.0 + index * 5  # 100 .. 595 ms
        builder.add(RequestRecord(ts=1_000.0 + index * 0.1, latency_ms=latency, status=500 if index < 2 else 200))
    result = builder.result()
    stored = {key: value for key, value in result.to_dict().items() if key not in ("histogram", "series")}
    breaches = [b.to_dict() for b in evaluate(result, {"latencyMs": 300})]
    run = make_run(acme, make_monitor(acme), status=RunStatus.FAIL, metrics=stored, breaches=breaches)
    metrics = api.get(f"/api/runs/{run.pk}", key=acme_key).json()["metrics"]
    assert metrics["totalRequests"] == 100 and metrics["errorRate"] == pytest.approx(0.02)
    assert metrics["min"] == 100.0 and metrics["max"] == 595.0 and metrics["avg"] == pytest.approx(347.5)
    assert metrics["p50"] == pytest.approx(345, rel=0.01) and metrics["p99"] == pytest.approx(590, rel=0.01)
    assert metrics["p95"] == pytest.approx(result.p95_ms) and metrics["throughput"] == pytest.approx(result.throughput_rps)
    assert metrics["apdex"] == pytest.approx(result.apdex)
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()
    assert body["thresholdBreaches"][0]["metric"] == "latencyMs"


def test_runs_list_says_why_a_run_was_skipped_or_errored(api, acme, acme_key):
    from perfmon.monitors.scheduler import dispatch_due

    make_agent("acme-1", tenant=acme, capacity=5)
    due = timezone.now().replace(second=0, microsecond=0)  # a fire time of "* * * * *"
    monitor = make_monitor(acme, next_run_at=due)
    dispatch_due(now=due + timedelta(seconds=1))
    Monitor.objects.for_tenant(acme).update(next_run_at=due)
    dispatch_due(now=due + timedelta(seconds=2))  # the first run is still queued: this tick is skipped
    runs = api.get(f"/api/monitors/{monitor.pk}/runs", key=acme_key).json()["runs"]
    assert [(r["status"], r["reason"]) for r in runs] == [
        ("skipped", "skipped: the previous run was still queued or running"), ("queued", None),
    ]
    single = api.get(f"/api/runs/{runs[0]['id']}", key=acme_key).json()
    assert "reason" not in single  # the run object keeps exactly the documented fields


# --- series ----------------------------------------------------------------


def test_series_follow_a_run_interval_by_interval(api, acme, globex_key, acme_key):
    from perfmon.runs.models import SeriesPoint

    monitor = make_monitor(acme)
    run = make_run(acme, monitor, status=RunStatus.RUNNING)
    start = timezone.now() - timedelta(seconds=20)
    for seq in range(3):
        SeriesPoint.all_tenants.create(run=run, seq=seq, start=start + timedelta(seconds=5 * seq), interval_s=5,
                                       count=100 + seq, errors=seq, p50_ms=10, p95_ms=20 + seq, p99_ms=30,
                                       throughput_rps=20.0 + seq, histogram="x")
    body = api.get(f"/api/runs/{run.pk}/series", key=acme_key).json()
    assert body["runStatus"] == "running"
    assert [p["seq"] for p in body["points"]] == [0, 1, 2]
    assert body["points"][2] == {
        "seq": 2, "start": body["points"][2]["start"], "intervalS": 5.0, "count": 102, "errors": 2,
        "p50": 10.0, "p95": 22.0, "p99": 30.0, "throughput": 22.0,
    }
    later = api.get(f"/api/runs/{run.pk}/series?after=1", key=acme_key).json()["points"]
    assert [p["seq"] for p in later] == [2]
    assert_envelope(api.get(f"/api/runs/{run.pk}/series?after=x", key=acme_key), 400)
    assert_envelope(api.get(f"/api/runs/{run.pk}/series", key=globex_key), 404, "not_found")


# --- cancel ----------------------------------------------------------------


def test_cancel_a_queued_run_ends_it_and_a_running_one_is_marked(api, acme, acme_key, globex_key):
    monitor = make_monitor(acme)
    queued = make_run(acme, monitor, status=RunStatus.QUEUED)
    response = api.post(f"/api/runs/{queued.pk}/cancel", key=acme_key)
    assert response.status_code == 202 and response.json() == {"runId": str(queued.pk), "status": "cancelled"}
    assert_envelope(api.post(f"/api/runs/{queued.pk}/cancel", key=acme_key), 409, "conflict")

    running = make_run(acme, make_monitor(acme), status=RunStatus.RUNNING)
    Run.all_tenants.filter(pk=running.pk).update(claimed_at=timezone.now())
    assert_envelope(api.post(f"/api/runs/{running.pk}/cancel", key=globex_key), 404, "not_found")
    assert Run.all_tenants.get(pk=running.pk).cancel_requested_at is None
    assert api.post(f"/api/runs/{running.pk}/cancel", key=acme_key).json()["status"] == "running"
    assert Run.all_tenants.get(pk=running.pk).cancel_requested_at is not None
