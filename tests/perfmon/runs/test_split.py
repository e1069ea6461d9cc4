"""Split runs through the agent API: placement, the ready/start protocol, exact merging, failures.

Every agent is enrolled over HTTP and every step is a real request to
/agent-api/v1, as real agents make them (tests/agents/test_split_e2e.py runs
real agent processes and k6).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from fractions import Fraction

import pytest
from django.utils import timezone

from perfmon.fleet.models import Agent
from perfmon.fleet.services import create_agent
from perfmon.runs import parts as split_parts
from perfmon.runs import series as split_series
from perfmon.runs.models import PartStatus, Run, RunPart, RunStatus, SeriesPoint
from perfmon.runs.series import points
from perfmon.runs.services import cancel_run, request_run
from perfmon.runs.sweeper import sweep
from runners.histogram import LatencyHistogram
from runners.protocol import agent_queue
from runners.records import RequestRecord
from runners.result import Result, ResultBuilder
from tests.broker import purge, take_assignments
from tests.factories import make_monitor
from tests.perfmon.api.agent.conftest import AgentClient

pytestmark = pytest.mark.django_db

AGENT_IDS = ("eu-1", "eu-2", "us-1")


@pytest.fixture(autouse=True)
def clean_queues():
    purge(*(agent_queue(name) for name in AGENT_IDS))
    yield
    purge(*(agent_queue(name) for name in AGENT_IDS))


def enroll(client, tenant, agent_id: str, location: str) -> AgentClient:
    token = create_agent(agent_id=agent_id, location=location, tenant=tenant).enrollment_token
    response = AgentClient(client).post("/enroll", {"token": token, "tools": {"k6": "1.1.0"}, "capacity": 1})
    assert response.status_code == 201, response.content
    agent = AgentClient(client, response.json()["credential"])
    assert agent.post("/heartbeat", {"tools": {"k6": "1.1.0"}}).status_code == 200
    return agent


@pytest.fixture
def fleet(client, acme):
    """Three online agents of acme: eu-1 and eu-2 in eu-west-1, us-1 in us-east-1."""
    return {
        "eu-1": enroll(client, acme, "eu-1", "eu-west-1"),
        "eu-2": enroll(client, acme, "eu-2", "eu-west-1"),
        "us-1": enroll(client, acme, "us-1", "us-east-1"),
    }


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    def _dispatch(tenant, distribution, **monitor_fields):
        monitor = make_monitor(tenant, **monitor_fields)
        with django_capture_on_commit_callbacks(execute=True):
            return request_run(tenant=tenant, monitor=monitor, distribution=distribution)

    return _dispatch


def parts_of(run) -> list[RunPart]:
    return list(RunPart.all_tenants.filter(run_id=run.pk).order_by("index"))


def reload(run) -> Run:
    return Run.all_tenants.get(pk=run.pk)


def a_result(latencies_ms, *, start=None, errors=0) -> dict:
    builder = ResultBuilder(apdex_t_ms=500)
    start = start if start is not None else time.time() - 10
    for i, latency in enumerate(latencies_ms):
        builder.add(RequestRecord(ts=start + i * 0.01, latency_ms=latency, status=500 if i < errors else 200))
    return builder.result().to_dict()


def claim(agent: AgentClient, part: RunPart, claim_id=None):
    return agent.post(f"/runs/{part.pk}/claim", {"claim_id": claim_id or str(uuid.uuid4())})


def heartbeat(agent: AgentClient, *running: RunPart) -> dict:
    response = agent.post("/heartbeat", {"tools": {"k6": "1.1.0"}, "running_runs": [str(p.pk) for p in running]})
    assert response.status_code == 200, response.content
    return response.json()


def start_all(fleet, run) -> list[RunPart]:
    """Claim every part and report it ready until all are released; returns the parts."""
    for part in parts_of(run):
        assert claim(fleet[part.agent_id], part).status_code == 200
    for part in parts_of(run):
        fleet[part.agent_id].post(f"/runs/{part.pk}/ready", {})
    answers = [fleet[part.agent_id].post(f"/runs/{part.pk}/ready", {}).json() for part in parts_of(run)]
    assert all(answer["state"] == "start" for answer in answers), answers
    return parts_of(run)


# --- placement ---------------------------------------------------------------------------------

def test_agents_n_places_one_part_on_each_of_n_distinct_agents_and_publishes_each(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})

    assert run.status == RunStatus.QUEUED and run.agent_id is None
    parts = parts_of(run)
    assert len(parts) == 2 and len({part.agent_id for part in parts}) == 2
    assert [Fraction(part.share) for part in parts] == [Fraction(1, 2), Fraction(1, 2)]
    assert {part.status for part in parts} == {PartStatus.QUEUED}
    for part in parts:  # one message per part, on its own agent's queue, naming the part
        assert [message["run_id"] for message in take_assignments(agent_queue(part.agent_id))] == [str(part.pk)]
    idle = set(AGENT_IDS) - {part.agent_id for part in parts}
    assert all(take_assignments(agent_queue(name)) == [] for name in idle)


def test_locations_get_their_percentages_on_agents_there(acme, fleet, dispatch):
    run = dispatch(acme, {"locations": {"eu-west-1": 60, "us-east-1": 40}})

    placed = {(part.location, Fraction(part.share), part.agent_id in ("eu-1", "eu-2") if part.location ==
               "eu-west-1" else part.agent_id == "us-1") for part in parts_of(run)}
    assert placed == {("eu-west-1", Fraction(3, 5), True), ("us-east-1", Fraction(2, 5), True)}


def test_agents_per_location_divides_a_location_share_between_its_agents(acme, fleet, dispatch):
    run = dispatch(acme, {"locations": {"eu-west-1": 100}, "agentsPerLocation": 2})

    assert sorted((part.agent_id, Fraction(part.share)) for part in parts_of(run)) == [
        ("eu-1", Fraction(1, 2)), ("eu-2", Fraction(1, 2))]


def test_a_split_that_cannot_be_placed_ends_in_error_and_starts_nothing(acme, fleet, dispatch):
    Agent.all_tenants.filter(pk="eu-2").update(last_heartbeat_at=timezone.now() - timedelta(hours=1))

    run = reload(dispatch(acme, {"locations": {"eu-west-1": 100}, "agentsPerLocation": 2}))

    assert run.status == RunStatus.ERROR
    assert "eu-west-1" in run.error and "2" in run.error, run.error
    assert parts_of(run) == []
    assert all(take_assignments(agent_queue(name)) == [] for name in AGENT_IDS)


def test_a_split_never_uses_another_tenants_agents(acme, globex, client, fleet, dispatch):
    enroll(client, globex, "globex-1", "eu-west-1")

    run = reload(dispatch(acme, {"agents": 4}))

    assert run.status == RunStatus.ERROR and parts_of(run) == []


# --- the start protocol ------------------------------------------------------------------------

def test_claim_answers_the_part_and_its_split(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = parts_of(run)

    answer = claim(fleet[second.agent_id], second).json()

    assert answer["run_id"] == str(run.pk) and answer["tool"] == "k6"
    assert answer["split"] == {"index": 1, "shares": ["1/2", "1/2"]}
    assert reload(run).status == RunStatus.RUNNING and reload(run).started_at is None
    assert parts_of(run)[1].status == PartStatus.PREPARING


def test_parts_start_together_once_every_part_is_ready(acme, fleet, dispatch, settings):
    settings.PERFMON_SPLIT_START_LEAD = 2.0
    run = dispatch(acme, {"agents": 2})
    first, second = parts_of(run)
    for part in (first, second):
        claim(fleet[part.agent_id], part)

    waiting = fleet[first.agent_id].post(f"/runs/{first.pk}/ready", {})
    assert waiting.status_code == 200 and waiting.json()["state"] == "wait"
    assert parts_of(run)[0].status == PartStatus.READY

    released = fleet[second.agent_id].post(f"/runs/{second.pk}/ready", {}).json()
    again = fleet[first.agent_id].post(f"/runs/{first.pk}/ready", {}).json()

    assert released["state"] == again["state"] == "start"
    assert released["start_at"] == again["start_at"]  # one common start
    assert 0 < again["start_in_s"] <= released["start_in_s"] <= 2.0
    assert released["start_at"] == pytest.approx(time.time() + 2.0, abs=1.5)
    run = reload(run)
    assert run.started_at.timestamp() == pytest.approx(released["start_at"])
    assert {part.status for part in parts_of(run)} == {PartStatus.RUNNING}


def test_a_redelivered_part_never_starts_a_second_load(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    part = parts_of(run)[0]
    claim_id = str(uuid.uuid4())
    assert claim(fleet[part.agent_id], part, claim_id).status_code == 200

    assert claim(fleet[part.agent_id], part, claim_id).status_code == 200  # an HTTP retry
    again = claim(fleet[part.agent_id], part)  # the message delivered again: another execution
    assert again.status_code == 409 and again.json()["error"] == "already_claimed"


def test_an_agent_cannot_claim_another_agents_part(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    part = parts_of(run)[0]
    other = next(name for name in AGENT_IDS if name != part.agent_id)

    assert claim(fleet[other], part).status_code == 404
    assert fleet[other].post(f"/runs/{part.pk}/ready", {}).status_code == 404
    assert parts_of(run)[0].status == PartStatus.QUEUED


def test_a_run_of_one_agent_does_not_report_ready(acme, fleet, dispatch):
    run = dispatch(acme, None)
    fleet[run.agent_id].post(f"/runs/{run.pk}/claim", {"claim_id": str(uuid.uuid4())})

    response = fleet[run.agent_id].post(f"/runs/{run.pk}/ready", {})

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_a_part_never_ready_fails_the_run_and_releases_the_ready_ones(acme, fleet, dispatch, settings):
    settings.PERFMON_SPLIT_READY_TIMEOUT = 30
    run = dispatch(acme, {"agents": 2})
    first, second = parts_of(run)
    claim(fleet[first.agent_id], first)
    assert fleet[first.agent_id].post(f"/runs/{first.pk}/ready", {}).json()["state"] == "wait"
    Run.all_tenants.filter(pk=run.pk).update(published_at=timezone.now() - timedelta(seconds=31),
                                            created_at=timezone.now() - timedelta(seconds=31))

    sweep()

    run = reload(run)
    assert run.status == RunStatus.ERROR
    assert f"part 1 on agent '{second.agent_id}' (queued)" in run.error and "30 s" in run.error, run.error
    assert [part.status for part in parts_of(run)] == [PartStatus.CANCELLED, PartStatus.CANCELLED]
    refused = fleet[first.agent_id].post(f"/runs/{first.pk}/ready", {})
    assert refused.status_code == 409 and refused.json()["error"] == "run_finished"
    assert claim(fleet[second.agent_id], second).status_code == 409


# --- results: exact merging ----------------------------------------------------------------------

def test_the_run_is_judged_once_on_the_exact_merge_of_its_parts(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2}, thresholds={"latencyMs": 150})
    first, second = start_all(fleet, run)
    now = time.time()
    fast = a_result([5.0 + (i % 7) for i in range(900)], start=now - 10)
    slow = a_result([45.0 + (i % 11) for i in range(100)], start=now - 9, errors=4)

    assert fleet[first.agent_id].post(f"/runs/{first.pk}/result",
                                      {"outcome": "completed", "exit_code": 0, "result": fast}).json() == {
        "status": "running"}
    assert reload(run).status == RunStatus.RUNNING  # judged only when every part has ended
    answer = fleet[second.agent_id].post(f"/runs/{second.pk}/result",
                                         {"outcome": "completed", "exit_code": 0, "result": slow})

    assert answer.json() == {"status": "pass"}
    run = reload(run)
    expected = Result.merge(Result.from_dict(fast), Result.from_dict(slow))
    assert run.metrics["count"] == 1000 and run.metrics["errors"] == 4 and run.metrics["parts"] == 2
    assert run.metrics["p95_ms"] == expected.p95_ms and run.metrics["p99_ms"] == expected.p99_ms
    all_samples = LatencyHistogram.decode(run.histogram)
    assert all_samples.count == 1000
    # The merged p95 is the p95 of all samples, not the average of the parts' p95s.
    assert run.metrics["p95_ms"] != pytest.approx((fast["p95_ms"] + slow["p95_ms"]) / 2, abs=1)
    assert (run.metrics["min_ms"], run.metrics["max_ms"]) == (fast["min_ms"], slow["max_ms"])
    assert run.metrics.get("partial") is not True
    assert [part.status for part in parts_of(run)] == [PartStatus.COMPLETED, PartStatus.COMPLETED]
    assert parts_of(run)[1].metrics["count"] == 100


def test_thresholds_judge_the_merged_result(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2}, thresholds={"errorRatePercent": 5})
    first, second = start_all(fleet, run)
    for part, errors in ((first, 0), (second, 80)):  # 80 of 200 failed: 40 % overall
        fleet[part.agent_id].post(f"/runs/{part.pk}/result", {"outcome": "completed", "exit_code": 0,
                                                              "result": a_result([10.0] * 100, errors=errors)})
    run = reload(run)
    assert run.status == RunStatus.FAIL
    assert run.breaches[0]["actual"] == pytest.approx(40.0)


def test_a_failed_part_ends_the_run_in_error_and_stops_the_rest(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)

    response = fleet[first.agent_id].post(f"/runs/{first.pk}/result", {
        "outcome": "tool_failed", "exit_code": 107, "error": "k6 exited with code 107", "result": a_result([10.0] * 5)})

    assert response.json() == {"status": "error"}
    run = reload(run)
    assert run.error == f"part 0 on agent '{first.agent_id}' failed: k6 exited with code 107"
    # The other agent is told to stop its part.
    assert str(second.pk) in heartbeat(fleet[second.agent_id], second)["cancel"]
    fleet[second.agent_id].post(f"/runs/{second.pk}/result", {"outcome": "cancelled", "error": "stopped",
                                                              "result": a_result([12.0] * 7)})
    run = reload(run)
    assert run.status == RunStatus.ERROR
    assert run.metrics["count"] == 12 and run.metrics["partial"] is True  # what both measured, kept


def test_cancelling_a_split_run_stops_every_part(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)

    cancel_run(tenant=acme, run_id=run.pk, actor="alice")

    for part in (first, second):
        assert str(part.pk) in heartbeat(fleet[part.agent_id], part)["cancel"]
        fleet[part.agent_id].post(f"/runs/{part.pk}/result", {"outcome": "cancelled", "error": "cancelled",
                                                              "result": a_result([10.0] * 3)})
    run = reload(run)
    assert run.status == RunStatus.CANCELLED
    assert [part.status for part in parts_of(run)] == [PartStatus.CANCELLED, PartStatus.CANCELLED]
    assert run.metrics["count"] == 6


def test_a_lost_agent_ends_the_run_in_error_and_keeps_its_part_series(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)
    streamed = a_result([20.0] * 50)
    point = streamed["series"][0]
    assert fleet[first.agent_id].post(f"/runs/{first.pk}/series", {"points": [point]}).json()["accepted"] == 1
    Agent.all_tenants.filter(pk=first.agent_id).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))

    sweep()

    run = reload(run)
    assert run.status == RunStatus.ERROR
    assert run.error.startswith(f"agent '{first.agent_id}' lost"), run.error
    assert parts_of(run)[0].status == PartStatus.LOST
    late = fleet[first.agent_id].post(f"/runs/{first.pk}/result", {"outcome": "completed", "exit_code": 0,
                                                                  "result": a_result([1.0] * 999)})
    assert late.status_code == 409 and late.json()["error"] == "stale_claim"  # a lost part's late report
    assert parts_of(run)[0].status == PartStatus.LOST and not parts_of(run)[0].metrics
    fleet[second.agent_id].post(f"/runs/{second.pk}/result", {"outcome": "cancelled", "error": "stopped",
                                                              "result": a_result([30.0] * 10)})
    run = reload(run)
    assert run.status == RunStatus.ERROR  # never reported passed
    assert run.metrics["count"] == point["count"] + 10 and run.metrics["partial"] is True
    assert SeriesPoint.all_tenants.filter(run_id=run.pk, part=0).count() == 1


def test_the_series_of_the_parts_merge_by_interval_start(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)
    start = float(int(time.time()) - 20)
    for part, latency in ((first, 10.0), (second, 50.0)):
        result = a_result([latency] * 40, start=start)
        batch = [{**point, "seq": seq} for seq, point in enumerate(result["series"])]
        assert fleet[part.agent_id].post(f"/runs/{part.pk}/series", {"points": batch}).status_code == 200

    merged = points(acme, reload(run))
    own = points(acme, reload(run), part=1)

    assert sum(point.count for point in merged) == 80
    assert sum(point.count for point in own) == 40 and all(point.p50_ms == pytest.approx(50, rel=0.01) for point in own)
    assert merged[0].start == own[0].start
    assert [point.seq for point in merged] == list(range(len(merged)))


def test_placement_is_all_or_nothing_under_a_real_pool(acme, fleet):
    # The pool is asked directly: three agents cannot give four parts, and nothing is reserved.
    from perfmon.runs.agents import AgentPool

    placement, reason = AgentPool().place(tenant=acme, tool="k6", distribution={"agents": 4})
    assert placement == [] and "4" in reason and "3" in reason, reason
    placement, _ = AgentPool().place(tenant=acme, tool="k6", distribution={"agents": 3})
    assert sorted(agent.pk for agent, _, _ in placement) == sorted(AGENT_IDS)
    assert split_parts.new_parts(Run(), placement)[2].index == 2


def test_a_part_whose_streams_arrived_short_marks_the_run_incomplete(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)
    result = a_result([10.0] * 20)
    point = result["series"][0]
    fleet[first.agent_id].post(f"/runs/{first.pk}/series", {"points": [point]})
    fleet[first.agent_id].post(f"/runs/{first.pk}/result", {
        "outcome": "completed", "exit_code": 0, "result": result, "series_count": 3, "log_chunk_count": 0})
    fleet[second.agent_id].post(f"/runs/{second.pk}/result", {
        "outcome": "completed", "exit_code": 0, "result": a_result([10.0] * 5), "series_count": 0,
        "log_chunk_count": 0})

    run = reload(run)
    assert run.status == RunStatus.PASS and run.metrics["count"] == 25
    assert parts_of(run)[0].metrics["incomplete"] == {"series": [1, 3]}
    assert run.metrics["incomplete"] == {"series": [1, 3]}


def test_an_agent_running_a_part_counts_it_and_is_drained_not_deleted(acme, fleet, dispatch):
    from perfmon.runs.agents import delete_machine, run_counts

    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)

    since = timezone.now() - timedelta(hours=1)
    assert run_counts(acme, Agent.all_tenants.get(pk=first.agent_id), since=since) == {"running": 1}
    removal = delete_machine(tenant=acme, agent_id=second.agent_id)

    assert (removal.deleted, removal.active_runs) == (False, 1)
    assert Agent.all_tenants.get(pk=second.agent_id).drained


def test_the_per_request_breakdown_of_the_parts_is_merged_and_kept_per_part(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)
    now = time.time()
    for part, latency in ((first, 10.0), (second, 90.0)):
        builder = ResultBuilder(apdex_t_ms=500)
        for i in range(50):
            builder.add(RequestRecord(ts=now - 5 + i * 0.01, latency_ms=latency, status=200, name="home",
                                      method="GET"))
            builder.add(RequestRecord(ts=now - 5 + i * 0.01, latency_ms=5.0, status=500, name="login",
                                      method="POST"))
        builder.add_check("home is 200", passed=True, count=50)
        result = builder.result().to_dict()
        fleet[part.agent_id].post(f"/runs/{part.pk}/result", {"outcome": "completed", "exit_code": 0,
                                                              "result": result})
    run = reload(run)
    entries = {entry["name"]: entry for entry in run.requests}

    assert (entries["home"]["count"], entries["login"]["count"], entries["login"]["errors"]) == (100, 100, 100)
    assert entries["home"]["p50_ms"] == pytest.approx(10.0, rel=0.001)
    assert entries["home"]["p99_ms"] == pytest.approx(90.0, rel=0.001)  # both parts' requests, pooled
    assert entries["login"]["status_codes"] == {"500": 100} and entries["login"]["method"] == "POST"
    assert run.checks == {"home is 200": {"passes": 100, "fails": 0}}
    assert "requests" not in run.metrics and "checks" not in run.metrics
    assert [part.requests[0]["count"] for part in parts_of(run)] == [50, 50]


def test_load_level_and_p90_are_stored_and_the_parts_vus_add_up(acme, fleet, dispatch):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)
    start = float(int(time.time()) - 20)
    for part, vus in ((first, 4), (second, 6)):
        builder = ResultBuilder(apdex_t_ms=500)
        for i in range(40):
            builder.add(RequestRecord(ts=start + i * 0.05, latency_ms=10.0 + i, status=200))
            builder.add_vus(start + i * 0.05, vus)
        batch = [{**point, "seq": seq} for seq, point in enumerate(builder.result().to_dict()["series"])]
        assert all(point["vus"] == vus and point["p90_ms"] for point in batch)
        assert fleet[part.agent_id].post(f"/runs/{part.pk}/series", {"points": batch}).status_code == 200

    own = points(acme, reload(run), part=0)
    merged = points(acme, reload(run))

    assert {point.vus for point in own} == {4} and all(point.p90_ms for point in own)
    assert {point.vus for point in merged} == {10}
    assert all(point.p50_ms <= point.p90_ms <= point.p95_ms for point in merged)
    assert points(acme, reload(run), max_points=1)[0].vus == 10


def test_a_concluded_split_runs_merged_series_is_stored_once_and_read_as_it_was_merged(
        acme, fleet, dispatch, django_assert_max_num_queries):
    run = dispatch(acme, {"agents": 2})
    first, second = start_all(fleet, run)
    start = float(int(time.time()) - 20)
    results = {}
    for part, latency in ((first, 10.0), (second, 50.0)):
        result = a_result([latency] * 60, start=start)
        results[part.index] = result
        batch = [{**point, "seq": seq} for seq, point in enumerate(result["series"])]
        fleet[part.agent_id].post(f"/runs/{part.pk}/series", {"points": batch})
    live = points(acme, reload(run))  # merged on the fly while the run is running
    for part in (first, second):
        fleet[part.agent_id].post(f"/runs/{part.pk}/result", {"outcome": "completed", "exit_code": 0,
                                                              "result": results[part.index]})
    run = reload(run)
    assert run.is_final
    stored = SeriesPoint.all_tenants.filter(run=run, part=split_series.MERGED_PART).count()

    with django_assert_max_num_queries(2):  # no part's points are read any more
        concluded = points(acme, run)

    assert stored == len(live) and concluded == live
    assert points(acme, run, part=1) != concluded  # a part's own series is still its own
