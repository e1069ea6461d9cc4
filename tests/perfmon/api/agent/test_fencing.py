"""Reports fenced to their claim: a late report of a run (or part) taken from its agent changes nothing.

The agent sends the claim_id it claimed the run with in its report
(runners.protocol.RunReport). The control plane refuses with 409
``stale_claim`` a report of another claim and any report for a run or part
that ended without one (agent lost, expired, cancelled before it ran),
while the repeat of the report that judged it is still answered with the
stored status, and a report spooled by an older agent (no claim_id) is
still judged (docs/agents.md, "POST /agent-api/v1/runs/{run_id}/result").
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agents.client import ControlPlane
from agents.reporter import Reporter
from agents.spool import Spool
from perfmon.alerts.models import Alert
from perfmon.fleet.models import Agent
from perfmon.runs.models import PartStatus, Run, RunLogChunk, RunPart, RunStatus, SeriesPoint
from perfmon.runs.services import cancel_run, request_run
from perfmon.runs.sweeper import sweep
from runners.protocol import ClaimAnswer, Outcome, RunReport
from tests.agents.plane import Plane
from tests.agents.test_executor import RUN, context, run_it
from tests.factories import make_monitor
from tests.perfmon.api.agent.test_agent_api import a_result
from tests.perfmon.runs.test_split import (  # noqa: F401 - clean_queues and dispatch are fixtures
    claim,
    clean_queues,
    dispatch,
    enroll,
    parts_of,
)

pytestmark = pytest.mark.django_db


def claimed(enrolled, run) -> str:
    claim_id = str(uuid.uuid4())
    response = enrolled.post(f"/runs/{run.pk}/claim", {"claim_id": claim_id})
    assert response.status_code == 200, response.content
    return claim_id


def report(claim_id=None, *, latencies=(10, 20, 30, 40), outcome="completed") -> dict:
    body = RunReport(Outcome(outcome), exit_code=0, result=None, series_count=None).to_dict()
    body["result"] = a_result(list(latencies)) if outcome == "completed" else None
    if claim_id is None:
        del body["claim_id"]  # what agents spooled before reports carried their claim
    else:
        body["claim_id"] = claim_id
    return body


def state_of(run) -> tuple:
    """Everything a refused report must leave as it was."""
    run = Run.all_tenants.get(pk=run.pk)
    alerts = list(Alert.all_tenants.filter(monitor_id=run.monitor_id).order_by("pk").values())
    return (run.status, run.error, run.metrics, run.histogram, run.breaches, run.completed_at, run.reported_at,
            run.claim_id, alerts)


def refused(response, *words) -> dict:
    assert response.status_code == 409, response.content
    envelope = response.json()
    assert envelope["error"] == "stale_claim", envelope
    for word in words:
        assert word in envelope["message"], envelope["message"]
    return envelope


def lose(agent_id: str) -> None:
    """The agent's last heartbeat an hour ago: the next sweep counts it lost."""
    Agent.all_tenants.filter(pk=agent_id).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))


# --- a run of one agent ----------------------------------------------------------------------

def test_a_late_report_for_a_run_the_sweeper_ended_lost_is_refused_and_changes_nothing(enrolled, queued_run):
    claim_id = claimed(enrolled, queued_run)
    path = f"/runs/{queued_run.pk}"
    streamed = a_result([25.0] * 40)
    points = streamed["series"]
    assert enrolled.post(f"{path}/series", {"points": points}).json()["accepted"] == len(points)
    assert enrolled.post(f"{path}/logs", {"chunks": [{"seq": 0, "text": "k6 starts\n"}]}).json()["accepted"] == 1
    lose("acme-1")

    assert sweep().agent_lost == 1
    run = Run.all_tenants.get(pk=queued_run.pk)
    assert run.status == RunStatus.ERROR and run.error.startswith("agent lost") and run.reported_at is None
    # What it streamed is kept, and is its figures: partial.
    assert run.metrics["partial"] is True and run.metrics["count"] == sum(p["count"] for p in points) == 40
    assert run.histogram
    before = state_of(queued_run)

    refused(enrolled.post(f"{path}/result", report(claim_id)), "already ended error without a report",
            "agent lost")
    refused(enrolled.post(f"{path}/result", report(None)))  # an older agent's spooled report: the same
    refused(enrolled.post(f"{path}/result", report(claim_id, outcome="agent_error")))
    assert state_of(queued_run) == before
    # What the agent still had spooled is not stored either, and it is told to stop.
    late_point = {**points[-1], "seq": len(points)}
    assert enrolled.post(f"{path}/series", {"points": [late_point]}).json() == {"accepted": 0, "cancel": True}
    assert enrolled.post(f"{path}/logs", {"chunks": [{"seq": 1, "text": "late\n"}]}).json() == {
        "accepted": 0, "cancel": True}
    assert SeriesPoint.all_tenants.filter(run_id=run.pk).count() == len(points)
    assert RunLogChunk.all_tenants.filter(run_id=run.pk).count() == 1


def test_a_report_carrying_another_claim_is_refused_and_changes_nothing(enrolled, queued_run):
    claim_id = claimed(enrolled, queued_run)
    path = f"/runs/{queued_run.pk}/result"
    before = state_of(queued_run)

    refused(enrolled.post(path, report(str(uuid.uuid4()))), "is not claimed by")
    assert state_of(queued_run) == before and before[0] == RunStatus.RUNNING
    assert enrolled.post(path, report(claim_id)).json() == {"status": "pass"}
    judged = state_of(queued_run)
    refused(enrolled.post(path, report(str(uuid.uuid4()), outcome="tool_failed")))
    assert state_of(queued_run) == judged


def test_the_judging_report_repeated_is_answered_with_the_stored_status(enrolled, queued_run):
    claim_id = claimed(enrolled, queued_run)
    path = f"/runs/{queued_run.pk}/result"
    first = enrolled.post(path, report(claim_id, latencies=[500, 600]))
    assert first.status_code == 200 and first.json() == {"status": "fail"}  # latencyMs 100 breached
    judged = state_of(queued_run)
    assert judged[6] is not None  # reported_at: judged from a report

    again = enrolled.post(path, report(claim_id, latencies=[500, 600]))
    assert again.status_code == 200 and again.json() == {"status": "fail"}
    assert state_of(queued_run) == judged


def test_a_report_without_a_claim_id_is_still_judged(enrolled, queued_run):
    claimed(enrolled, queued_run)
    response = enrolled.post(f"/runs/{queued_run.pk}/result", report(None))
    assert response.status_code == 200 and response.json() == {"status": "pass"}
    run = Run.all_tenants.get(pk=queued_run.pk)
    assert run.status == RunStatus.PASS and run.metrics["count"] == 4 and run.reported_at is not None


def test_a_report_for_a_run_that_expired_while_running_is_refused(enrolled, queued_run, settings):
    claim_id = claimed(enrolled, queued_run)
    long_ago = timezone.now() - timedelta(seconds=2 * settings.PERFMON_RUN_TIME_LIMIT + 5)
    Run.all_tenants.filter(pk=queued_run.pk).update(claimed_at=long_ago)
    assert sweep().expired == 1
    before = state_of(queued_run)
    assert before[0] == RunStatus.ERROR and before[1].startswith("expired")
    assert before[2] == {}  # it streamed nothing: no figures

    refused(enrolled.post(f"/runs/{queued_run.pk}/result", report(claim_id)), "expired")
    assert state_of(queued_run) == before


def test_a_report_for_a_run_cancelled_before_it_started_is_refused(acme, enrolled, queued_run):
    cancel_run(tenant=acme, run_id=queued_run.pk, actor="alice")
    before = state_of(queued_run)
    assert before[0] == RunStatus.CANCELLED

    refused(enrolled.post(f"/runs/{queued_run.pk}/result", report(None, outcome="cancelled")),
            "cancelled by alice before it started")
    refused(enrolled.post(f"/runs/{queued_run.pk}/result", report(str(uuid.uuid4()))), "is not claimed by")
    assert state_of(queued_run) == before


def test_a_claim_id_that_is_no_uuid_is_refused_as_unreadable(enrolled, queued_run):
    claimed(enrolled, queued_run)
    response = enrolled.post(f"/runs/{queued_run.pk}/result", {**report(None), "claim_id": "c"})
    assert response.status_code == 400 and list(response.json()["details"]) == ["claim_id"]
    assert Run.all_tenants.get(pk=queued_run.pk).status == RunStatus.RUNNING


# --- a part of a split run -------------------------------------------------------------------

@pytest.fixture
def pair(client, acme):
    return {"eu-1": enroll(client, acme, "eu-1", "eu-west-1"), "eu-2": enroll(client, acme, "eu-2", "eu-west-1")}


def started(pair, run) -> dict[str, tuple[RunPart, str]]:
    """Claim every part (one claim id each), report them ready until released: {agent id: (part, claim id)}."""
    claims = {}
    for part in parts_of(run):
        claim_id = str(uuid.uuid4())
        assert claim(pair[part.agent_id], part, claim_id).status_code == 200
        claims[part.agent_id] = claim_id
    for _ in range(2):
        answers = [pair[part.agent_id].post(f"/runs/{part.pk}/ready", {}).json() for part in parts_of(run)]
    assert all(answer["state"] == "start" for answer in answers), answers
    return {part.agent_id: (part, claims[part.agent_id]) for part in parts_of(run)}


def part_state(part) -> tuple:
    part = RunPart.all_tenants.get(pk=part.pk)
    return part.status, part.error, part.metrics, part.histogram, part.completed_at, part.reported_at, part.outcome


def test_a_late_report_for_a_lost_part_is_refused_and_changes_nothing(acme, pair, dispatch):  # noqa: F811
    run = dispatch(acme, {"agents": 2})
    parts = started(pair, run)
    (first, first_claim), (second, second_claim) = parts["eu-1"], parts["eu-2"]
    streamed = a_result([20.0] * 30)
    assert pair["eu-1"].post(f"/runs/{first.pk}/series", {"points": streamed["series"]}).json()["accepted"] >= 1
    lose("eu-1")
    sweep()
    assert RunPart.all_tenants.get(pk=first.pk).status == PartStatus.LOST
    lost, before = part_state(first), state_of(run)
    assert before[0] == RunStatus.ERROR

    for body in (report(first_claim, latencies=[1.0] * 999), report(None, latencies=[1.0] * 999)):
        refused(pair["eu-1"].post(f"/runs/{first.pk}/result", body), "already ended lost without a report")
    assert part_state(first) == lost and state_of(run) == before

    # The other part, still running when the run ended, reports what it measured: taken, partial.
    body = report(second_claim, latencies=[30.0] * 10, outcome="cancelled")
    body["result"] = a_result([30.0] * 10)
    assert pair["eu-2"].post(f"/runs/{second.pk}/result", body).json() == {"status": "error"}
    run = Run.all_tenants.get(pk=run.pk)
    assert run.status == RunStatus.ERROR and run.metrics["partial"] is True
    assert run.metrics["count"] == 30 + 10
    judged = part_state(second)
    assert judged[0] == PartStatus.CANCELLED and judged[5] is not None
    # ... and the repeat of that report is answered again, changing nothing.
    assert pair["eu-2"].post(f"/runs/{second.pk}/result", body).json() == {"status": "error"}
    assert part_state(second) == judged


def test_a_part_report_of_another_claim_is_refused_and_its_own_judged(acme, pair, dispatch):  # noqa: F811
    run = dispatch(acme, {"agents": 2})
    parts = started(pair, run)
    (first, first_claim), (second, _) = parts["eu-1"], parts["eu-2"]
    before = part_state(first)

    refused(pair["eu-1"].post(f"/runs/{first.pk}/result", report(str(uuid.uuid4()))),
            f"part {first.index} of run {run.pk} is not claimed by")
    assert part_state(first) == before and before[0] == PartStatus.RUNNING

    assert pair["eu-1"].post(f"/runs/{first.pk}/result", report(first_claim)).json() == {"status": "running"}
    # An older agent's report (no claim_id) is judged as before.
    assert pair["eu-2"].post(f"/runs/{second.pk}/result", report(None)).json() == {"status": "pass"}
    done = part_state(first)
    assert done[0] == PartStatus.COMPLETED and done[5] is not None
    assert pair["eu-1"].post(f"/runs/{first.pk}/result", report(first_claim)).json() == {"status": "pass"}
    refused(pair["eu-1"].post(f"/runs/{first.pk}/result", report(str(uuid.uuid4()))))
    assert part_state(first) == done


# --- the agent's side -----------------------------------------------------------------------

def test_the_agents_report_carries_the_claim_it_ran_under(tmp_path):
    plane = Plane().start()
    try:
        plane.claims[RUN] = ClaimAnswer(run_id=RUN, tool="custom", script="#!/bin/sh\necho hello\n",
                                        script_filename="", parameters={}, thresholds={}, apdex_t_ms=500,
                                        time_limit_s=60, interval_s=1.0).to_dict()
        ctx, spool = context(plane, tmp_path)
        run_it(ctx, spool)
    finally:
        plane.stop()
    (_, claim_body), = plane.posts("claim")
    (_, result_body), = plane.posts("result")
    assert RunReport.from_dict(result_body).claim_id == claim_body["claim_id"]
    assert uuid.UUID(claim_body["claim_id"])


@pytest.mark.django_db(transaction=True)
def test_the_agent_drops_a_refused_report_at_once_without_retrying(live_server, tmp_path, caplog):
    from perfmon.fleet.services import create_agent
    from perfmon.tenants.services import create_tenant

    acme = create_tenant(name="Acme", slug="acme")
    token = create_agent(agent_id="acme-1", location="eu", tenant=acme).enrollment_token
    enrolled = ControlPlane(live_server.url, timeout=30).post(
        "/enroll", {"token": token, "tools": {"k6": "1.1.0"}, "capacity": 2}, auth=False)
    http = ControlPlane(live_server.url, enrolled["credential"], timeout=30)
    http.post("/heartbeat", {"tools": {"k6": "1.1.0"}, "capacity": 2})
    run = request_run(tenant=acme, monitor=make_monitor(acme))
    spool = Spool(Path(tmp_path / "spool"))
    try:
        reporter = Reporter(http, spool, initial_backoff_s=0.1, max_backoff_s=1.0)
        claim_id = str(uuid.uuid4())
        assert reporter.claim(str(run.pk), claim_id, give_up=lambda: False)["run_id"] == str(run.pk)
        lose("acme-1")
        assert sweep().agent_lost == 1
        before = state_of(run)
        reporter.result(str(run.pk), report(claim_id))
        with caplog.at_level(logging.WARNING, logger="agents.reporter"):
            reporter.start()
            assert reporter.wait_idle(30)
            reporter.stop()
    finally:
        spool.close()
    assert (reporter.refused, reporter.sent, len(spool)) == (1, 0, 0)
    assert f"no longer takes the report of run {run.pk}, dropping it" in caplog.text
    assert "stale_claim" in caplog.text
    assert state_of(run) == before
