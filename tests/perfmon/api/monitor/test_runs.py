"""Manual runs, the runs list, one run, and its logs over /api."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.runs.ingest import claim_run
from perfmon.runs.judge import finish_run
from perfmon.runs.models import Run, RunStatus, RunTrigger
from runners.adapters import get_adapter
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
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
# Beyond the document (docs/api.md lists them as added).
ADDED_RUN_FIELDS = {"reason", "distribution"}


def test_run_has_the_documented_fields_plus_reason_and_richer_metrics(api, acme, acme_key):
    agent = make_agent("default", tenant=acme)
    monitor = make_monitor(acme)
    breach = {"metric": "latencyMs", "threshold": 300.0, "actual": 387.0}
    run = make_run(acme, monitor, status=RunStatus.FAIL, agent=agent, metrics=RESULT_METRICS, breaches=[breach])
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()
    assert set(body) == DOCUMENTED_RUN_FIELDS | ADDED_RUN_FIELDS
    assert body["reason"] == "thresholds breached: p95 latency 387 ms > threshold 300 ms"
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
    from perfmon.runs.tick import dispatch_due

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
    assert single["reason"] == "skipped: the previous run was still queued or running"


def _judged(tenant, monitor, agent, report):
    """A run of ``monitor`` claimed by ``agent`` and judged from its report, as the agent API does it."""
    run = make_run(tenant, monitor, status=RunStatus.QUEUED, agent=agent)
    claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
    return finish_run(agent=agent, run_id=run.pk, report=report)


def test_errored_run_says_why_in_reason_and_a_passed_run_has_none(api, acme, acme_key):
    agent = make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme, thresholds={"latencyMs": 1000})
    crash = get_adapter("k6").classify_exit(107)
    errored = _judged(acme, monitor, agent, RunReport(outcome="tool_failed", exit_code=107, error=crash.reason))
    builder = ResultBuilder()
    for index in range(10):
        builder.add(RequestRecord(ts=1_000.0 + index * 0.1, latency_ms=50.0, status=200))
    passed = _judged(acme, monitor, agent, RunReport(outcome="completed", exit_code=0, result=builder.result()))

    errored_body = api.get(f"/api/runs/{errored.pk}", key=acme_key).json()
    passed_body = api.get(f"/api/runs/{passed.pk}", key=acme_key).json()

    assert (errored_body["status"], errored_body["reason"]) == ("error", "k6 exited 107: script exception")
    assert (passed_body["status"], passed_body["reason"]) == ("pass", None)


def test_reason_for_each_way_a_run_ends(api, acme, acme_key):
    cases = {
        "fail": ({"status": RunStatus.FAIL, "breaches": [
            {"metric": "latencyMs", "threshold": 300.0, "actual": 387.0},
            {"metric": "apdexMin", "threshold": 0.7, "actual": 0.61}], "thresholds": {"latencyPercentile": 99}},
            "thresholds breached: p99 latency 387 ms > threshold 300 ms; Apdex 0.61 < minimum 0.7"),
        "cancelled": ({"status": RunStatus.CANCELLED, "status_reason": "cancelled by alice before it started"},
                      "cancelled by alice before it started"),
        "running": ({"status": RunStatus.RUNNING, "status_reason": "cancellation requested by alice"},
                    "cancellation requested by alice"),
        "queued": ({"status": RunStatus.QUEUED}, None),
        # A cancellation that came too late is not why a run passed.
        "pass": ({"status": RunStatus.PASS, "status_reason": "cancellation requested by alice"}, None),
        "error": ({"status": RunStatus.ERROR}, "the run errored without a recorded cause"),
    }
    for name, (fields, expected) in cases.items():
        run = make_run(acme, None, status=fields.pop("status"), breaches=fields.pop("breaches", None))
        Run.all_tenants.filter(pk=run.pk).update(**fields)
        assert api.get(f"/api/runs/{run.pk}", key=acme_key).json()["reason"] == expected, name


# --- all runs and shortened ids --------------------------------------------


def test_runs_of_the_tenant_are_listed_newest_first_across_monitors(api, acme, acme_key, globex):
    start = timezone.now() - timedelta(hours=1)
    first, second = make_monitor(acme), make_monitor(acme)
    runs = [make_run(acme, monitor, created_at=start + timedelta(minutes=i))
            for i, monitor in enumerate([first, second, None, first])]
    make_run(globex, make_monitor(globex))
    body = api.get("/api/runs?limit=3", key=acme_key).json()
    assert set(body) == {"runs", "total", "limit", "offset"} and (body["total"], body["limit"]) == (4, 3)
    assert [r["id"] for r in body["runs"]] == [str(r.pk) for r in reversed(runs)][:3]
    assert set(body["runs"][0]) == DOCUMENTED_RUN_FIELDS | ADDED_RUN_FIELDS


def test_runs_of_the_tenant_query_count_is_bounded(api, acme, acme_key, history, django_assert_max_num_queries):
    # key lookup + key touch + page + count
    with django_assert_max_num_queries(4):
        body = api.get("/api/runs?limit=100", key=acme_key).json()
    assert len(body["runs"]) == 30


def _run_with_id(tenant, monitor, run_id: str) -> Run:
    run = make_run(tenant, monitor)
    Run.all_tenants.filter(pk=run.pk).update(id=uuid.UUID(run_id))
    return Run.all_tenants.get(pk=run_id)


def test_runs_filtered_by_an_id_prefix(api, acme, acme_key):
    monitor = make_monitor(acme)
    one = _run_with_id(acme, monitor, "0d0afcb2-0000-4000-8000-000000000001")
    two = _run_with_id(acme, monitor, "0d0afcb2-9999-4000-8000-000000000002")
    make_run(acme, monitor)  # any other id
    edge = _run_with_id(acme, monitor, "0d0afcb3-0000-4000-8000-000000000000")  # just past the range

    def ids(prefix):
        body = api.get(f"/api/runs?idPrefix={prefix}", key=acme_key).json()
        assert body["total"] == len(body["runs"])
        return {r["id"] for r in body["runs"]}

    assert ids("0d0afcb2") == {str(one.pk), str(two.pk)}
    assert ids("0D0AFCB2-9") == {str(two.pk)}  # case and dashes do not matter
    assert ids("0d0afcb3") == {str(edge.pk)}
    assert ids(str(one.pk)) == {str(one.pk)}  # a whole id is its own prefix
    assert ids("abcdef") == set()


@pytest.mark.parametrize("prefix", ["0d0af", "xyz123", "0d0afcb2-zz", "", "0" * 33])
def test_a_bad_id_prefix_is_a_400_naming_it(api, acme, acme_key, prefix):
    body = assert_envelope(api.get(f"/api/runs?idPrefix={prefix}", key=acme_key), 400)
    assert "idPrefix" in body["details"]
    body = assert_envelope(api.get(f"/api/monitors?idPrefix={prefix}", key=acme_key), 400)
    assert "idPrefix" in body["details"]


def test_an_id_prefix_never_finds_another_tenants_run_or_monitor(api, acme, acme_key, globex, globex_key):
    theirs = _run_with_id(globex, make_monitor(globex), "0d0afcb2-0000-4000-8000-000000000001")
    their_monitor = theirs.monitor
    body = api.get("/api/runs?idPrefix=0d0afcb2", key=acme_key).json()
    assert (body["runs"], body["total"]) == ([], 0)
    assert api.get(f"/api/monitors?idPrefix={str(their_monitor.pk)[:8]}", key=acme_key).json() == []
    # The owner finds both.
    assert [r["id"] for r in api.get("/api/runs?idPrefix=0d0afcb2", key=globex_key).json()["runs"]] == [str(theirs.pk)]
    mine = api.get(f"/api/monitors?idPrefix={str(their_monitor.pk)[:8]}", key=globex_key).json()
    assert [m["id"] for m in mine] == [str(their_monitor.pk)]


def test_monitors_filtered_by_an_id_prefix(api, acme, acme_key):
    monitors = [make_monitor(acme) for _ in range(3)]
    target = monitors[1]
    found = api.get(f"/api/monitors?idPrefix={str(target.pk)[:6]}", key=acme_key).json()
    assert str(target.pk) in [m["id"] for m in found]
    assert all(m["id"].startswith(str(target.pk)[:6]) for m in found)
    assert len(api.get("/api/monitors", key=acme_key).json()) == 3


# --- series ----------------------------------------------------------------


def test_series_follow_a_run_interval_by_interval(api, acme, globex_key, acme_key):
    from perfmon.runs.models import SeriesPoint

    monitor = make_monitor(acme)
    run = make_run(acme, monitor, status=RunStatus.RUNNING)
    start = timezone.now() - timedelta(seconds=20)
    for seq in range(3):
        SeriesPoint.all_tenants.create(run=run, seq=seq, start=start + timedelta(seconds=5 * seq), interval_s=5,
                                       count=100 + seq, errors=seq, p50_ms=10, p95_ms=20 + seq, p99_ms=30,
                                       throughput_rps=20.0 + seq, histogram="x",
                                       p90_ms=15 if seq == 2 else None, vus=8 if seq == 2 else None)
    body = api.get(f"/api/runs/{run.pk}/series", key=acme_key).json()
    assert body["runStatus"] == "running"
    assert [p["seq"] for p in body["points"]] == [0, 1, 2]
    assert body["points"][2] == {
        "seq": 2, "start": body["points"][2]["start"], "intervalS": 5.0, "count": 102, "errors": 2,
        "p50": 10.0, "p90": 15.0, "p95": 22.0, "p99": 30.0, "throughput": 22.0, "coveredS": 5.0, "vus": 8,
    }
    assert (body["points"][0]["p90"], body["points"][0]["vus"]) == (None, None)  # an older agent's point
    later = api.get(f"/api/runs/{run.pk}/series?after=1", key=acme_key).json()["points"]
    assert [p["seq"] for p in later] == [2]
    for bad in ("x", "-2", "%C2%B2", "1_0", "9223372036854775808"):  # ² is a digit to str.isdigit
        assert_envelope(api.get(f"/api/runs/{run.pk}/series?after={bad}", key=acme_key), 400)
    assert_envelope(api.get(f"/api/runs/{run.pk}/series", key=globex_key), 404, "not_found")


def test_series_merged_to_max_points_keep_counts_rates_and_percentiles_exact(api, acme, acme_key, globex_key):
    from perfmon.runs.models import SeriesPoint
    from runners.histogram import LatencyHistogram
    from runners.result import SeriesPoint as WirePoint

    run = make_run(acme, make_monitor(acme), status=RunStatus.PASS)
    start = timezone.now().replace(microsecond=0) - timedelta(seconds=60)
    everything = LatencyHistogram()
    # 25 one-second points: a run that began 0.4 s into the first and ended 0.25 s into the last
    for seq in range(25):
        hist = LatencyHistogram()
        for ms in range(1, 11 + seq * 4):
            hist.record(ms * (seq + 1))
            everything.record(ms * (seq + 1))
        covered = 0.6 if seq == 0 else 0.25 if seq == 24 else 1.0
        wire = WirePoint.build(seq, start.timestamp() + seq, 1.0, hist.count, seq % 3, hist, covered_s=covered)
        SeriesPoint.all_tenants.create(
            run=run, seq=seq, start=start + timedelta(seconds=seq), interval_s=1.0, count=wire.count,
            errors=wire.errors, p50_ms=wire.p50_ms, p95_ms=wire.p95_ms, p99_ms=wire.p99_ms,
            throughput_rps=wire.throughput_rps, histogram=wire.histogram, covered_s=wire.covered_s,
        )
    raw = api.get(f"/api/runs/{run.pk}/series", key=acme_key).json()["points"]
    merged = api.get(f"/api/runs/{run.pk}/series?maxPoints=10", key=acme_key).json()["points"]

    assert len(raw) == 25 and len(merged) == 9  # groups of 3: at most 10 points
    assert sum(p["count"] for p in merged) == sum(p["count"] for p in raw) == everything.count
    assert sum(p["errors"] for p in merged) == sum(p["errors"] for p in raw)
    assert [p["seq"] for p in merged] == [2, 5, 8, 11, 14, 17, 20, 23, 24]  # `after` continues after each
    first = merged[0]
    assert first["intervalS"] == 3.0 and first["coveredS"] == pytest.approx(2.6)
    assert first["throughput"] == pytest.approx(sum(p["count"] for p in raw[:3]) / 2.6)
    assert merged[-1]["throughput"] == pytest.approx(raw[-1]["count"] / 0.25)
    # a merged point's percentiles are its points' merged histogram's, not an average
    group = LatencyHistogram()
    for seq in range(3, 6):
        for ms in range(1, 11 + seq * 4):
            group.record(ms * (seq + 1))
    assert merged[1]["p95"] == group.percentile(95)
    assert merged[1]["p95"] != pytest.approx(sum(p["p95"] for p in raw[3:6]) / 3)
    for bad in ("0", "1001", "x", "-3"):
        body = assert_envelope(api.get(f"/api/runs/{run.pk}/series?maxPoints={bad}", key=acme_key), 400)
        assert "maxPoints" in body["details"]
    assert_envelope(api.get(f"/api/runs/{run.pk}/series?maxPoints=10", key=globex_key), 404)


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


def test_a_point_whose_histogram_does_not_decode_never_breaks_merged_series(api, acme, acme_key):
    # An agent can send any text as a point's histogram; checking each at ingest costs too much,
    # so the merge leaves an undecodable one out (its counts still count).
    from perfmon.runs.models import SeriesPoint
    from runners.histogram import LatencyHistogram

    run = make_run(acme, make_monitor(acme), status=RunStatus.PASS)
    start = timezone.now().replace(microsecond=0) - timedelta(seconds=30)
    good = LatencyHistogram()
    for ms in (10, 20, 30):
        good.record(ms)
    for seq, text in enumerate([good.encode(), "garbage", "['x']", good.encode()]):
        SeriesPoint.all_tenants.create(run=run, seq=seq, start=start + timedelta(seconds=seq), interval_s=1.0,
                                       count=3, errors=0, p50_ms=20, p95_ms=30, p99_ms=30, throughput_rps=3,
                                       histogram=text, covered_s=1.0)
    response = api.get(f"/api/runs/{run.pk}/series?maxPoints=1", key=acme_key)
    assert response.status_code == 200, response.content
    (merged,) = response.json()["points"]
    assert merged["count"] == 12 and merged["p99"] == pytest.approx(30, rel=0.01)
