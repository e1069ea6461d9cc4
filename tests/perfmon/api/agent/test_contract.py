"""Both sides of the agent API read and write a run's documents with runners.protocol.

The control plane's claim answer is what the agent's ClaimAnswer reads; the
report the agent's code writes (RunReport.to_dict, through its spool and
sender) is what the result view reads, also when an earlier agent spooled it.
"""

import re
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from agents.client import ControlPlane
from agents.config import AgentConfig
from agents.reporter import Reporter
from agents.spool import Spool
from agents.state import AgentState
from agents.worker import recover
from perfmon.fleet.services import create_agent
from perfmon.runs.models import Run, RunStatus
from perfmon.runs.services import request_run
from perfmon.tenants.services import create_tenant
from runners.protocol import ClaimAnswer, Outcome, RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_monitor

DOCS = Path(__file__).resolve().parents[4] / "docs" / "agents.md"


def measured(seconds=3, per_second=4):
    """A Result over ``seconds`` whole seconds, with its series."""
    builder = ResultBuilder(apdex_t_ms=500)
    start = float(int(time.time()) - 60)
    for i in range(seconds * per_second):
        builder.add(RequestRecord(ts=start + i / per_second, latency_ms=20, status=200))
    result = builder.result()
    assert len(result.series) >= seconds
    return result


def claimed(enrolled, run) -> dict:
    response = enrolled.post(f"/runs/{run.pk}/claim", {"claim_id": str(uuid.uuid4())})
    assert response.status_code == 200, response.content
    return response.json()


def reload(run) -> Run:
    return Run.all_tenants.get(pk=run.pk)


def test_the_claim_answer_is_a_claim_answer(enrolled, queued_run):
    body = claimed(enrolled, queued_run)
    answer = ClaimAnswer.from_dict(body)
    assert answer.to_dict() == body  # nothing beyond the document, nothing missing
    assert answer == ClaimAnswer(
        run_id=str(queued_run.pk), tool="k6", script=queued_run.script,
        script_filename=queued_run.test.script_filename, parameters={},
        thresholds={"latencyMs": 100, "errorRatePercent": 10}, apdex_t_ms=queued_run.apdex_t_ms,
        time_limit_s=settings.PERFMON_RUN_TIME_LIMIT, interval_s=1.0,
    )


def test_the_agents_report_is_judged_from_what_it_says(enrolled, queued_run):
    claimed(enrolled, queued_run)
    path = f"/runs/{queued_run.pk}"
    result = measured()
    points = [p.to_dict() for p in result.series]
    assert enrolled.post(f"{path}/series", {"points": points}).json()["accepted"] == len(points)
    assert enrolled.post(f"{path}/logs", {"chunks": [{"seq": 0, "text": "ok\n"}]}).json()["accepted"] == 1
    report = RunReport(Outcome.COMPLETED, exit_code=0, result=result, series_count=len(points),
                       log_chunk_count=1)
    response = enrolled.post(f"{path}/result", report.to_dict())
    assert response.json() == {"status": "pass"}
    run = reload(queued_run)
    assert run.metrics["count"] == result.count and run.metrics["outcome"] == "completed"
    assert "incomplete" not in run.metrics


def test_series_and_logs_that_never_arrived_are_flagged_on_the_run(enrolled, queued_run):
    claimed(enrolled, queued_run)
    path = f"/runs/{queued_run.pk}"
    result = measured(seconds=4)
    enrolled.post(f"{path}/series", {"points": [result.series[0].to_dict()]})  # the rest was lost on the way
    enrolled.post(f"{path}/logs", {"chunks": [{"seq": 0, "text": "a\n"}, {"seq": 2, "text": "c\n"}]})
    report = RunReport(Outcome.COMPLETED, exit_code=0, result=result, series_count=len(result.series),
                       log_chunk_count=3)
    assert enrolled.post(f"{path}/result", report.to_dict()).json() == {"status": "pass"}
    assert reload(queued_run).metrics["incomplete"] == {"series": [1, len(result.series)], "logs": [2, 3]}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"outcome": "finished"}, "outcome", "outcome: 'finished' is not one of completed, tool_failed"),
        ({"outcome": "completed", "version": 2}, "version", "version: run report schema version 2 is not 1"),
        ({"outcome": "completed", "series_count": -3}, "series_count", "series_count: must be at least 0"),
        (["completed"], "non_field_errors", "a run report is a JSON object, not list"),
    ],
)
def test_a_report_it_cannot_read_is_refused_in_the_envelope(enrolled, queued_run, body, field, message):
    claimed(enrolled, queued_run)
    response = enrolled.post(f"/runs/{queued_run.pk}/result", body)
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["error"] == "invalid_request" and envelope["message"].startswith(message)
    assert list(envelope["details"]) == [field]
    assert reload(queued_run).status == RunStatus.RUNNING


# The bodies the agent spooled before reports had a version (agents/executor.py and
# agents/worker.py of the previous release): a completed run carried no "error".
def old_completed(result) -> dict:
    return {"outcome": "completed", "exit_code": 0, "result": result.to_dict(), "series_count": 0,
            "log_chunk_count": 0}


OLD_LOST = {"outcome": "agent_error", "exit_code": None, "error": "agent 'acme-1' stopped unexpectedly while "
            "running this run (killed, crashed or the host restarted)", "result": None, "series_count": 0,
            "log_chunk_count": 0}


def test_reports_spooled_by_the_previous_agent_are_judged_after_an_upgrade(live_server, tmp_path):
    acme = create_tenant(name="Acme", slug="acme")
    token = create_agent(agent_id="acme-1", location="eu", tenant=acme).enrollment_token
    enrolled = ControlPlane(live_server.url, timeout=30).post(
        "/enroll", {"token": token, "tools": {"k6": "1.1.0"}, "capacity": 3}, auth=False)
    credential = enrolled["credential"]
    http = ControlPlane(live_server.url, credential, timeout=30)
    http.post("/heartbeat", {"tools": {"k6": "1.1.0"}, "capacity": 3})
    runs = [request_run(tenant=acme, monitor=make_monitor(acme)) for _ in range(3)]
    assert {run.agent_id for run in runs} == {"acme-1"}

    config = AgentConfig(server_url=live_server.url, agent_id="acme-1", credential=credential,
                         broker_url="memory://", queue="agent.acme-1", work_root=str(tmp_path / "work"),
                         spool_dir=str(tmp_path / "spool"))
    spool = Spool(Path(config.spool_dir))
    reporter = Reporter(http, spool, initial_backoff_s=0.1, max_backoff_s=1.0)
    claims = [str(uuid.uuid4()) for _ in runs]
    for run, claim in zip(runs, claims, strict=True):  # the agent's own claim: its answer read by ClaimAnswer
        answer = reporter.claim(str(run.pk), claim, give_up=lambda: False)
        assert ClaimAnswer.from_dict(answer).run_id == str(run.pk)
    # The previous agent spooled two reports and was killed while running the third run.
    spool.append(path=f"/runs/{runs[0].pk}/result", run_id=str(runs[0].pk), kind="result",
                 body=old_completed(measured()), essential=True)
    spool.append(path=f"/runs/{runs[1].pk}/result", run_id=str(runs[1].pk), kind="result", body=OLD_LOST,
                 essential=True)
    state = AgentState(config.running_dir)
    state.write_marker(state.begin(str(runs[2].pk), claim_id=claims[2]), work_dir="")
    spool.close()

    # The upgraded agent starts: reports what the marker left (RunReport.to_dict) and sends the spool.
    spool = Spool(Path(config.spool_dir))
    try:
        reporter = Reporter(http, spool, initial_backoff_s=0.1, max_backoff_s=1.0)
        assert recover(config, AgentState(config.running_dir), reporter) == 1
        reporter.start()
        assert reporter.wait_idle(60)
        reporter.stop()
    finally:
        spool.close()
    assert reporter.refused == 0 and reporter.sent == 3
    done = [reload(run) for run in runs]
    assert [run.status for run in done] == [RunStatus.PASS, RunStatus.ERROR, RunStatus.ERROR]
    assert done[0].metrics["count"] == 12 and "stopped unexpectedly" in done[1].error
    assert "acme-1' stopped unexpectedly" in done[2].error


def _section(title: str) -> str:
    text = DOCS.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_docs_list_every_field_of_both_documents_and_every_outcome():
    claim = _section("POST /agent-api/v1/runs/{run_id}/claim")
    result = _section("POST /agent-api/v1/runs/{run_id}/result")
    for name in ClaimAnswer.__dataclass_fields__:
        assert f'"{name}"' in claim, name
    for name in RunReport.__dataclass_fields__:
        assert f'"{name}"' in result, name
    listed = re.search(r'"outcome": ((?:"\w+"(?: \| )?)+)', result).group(1)
    assert re.findall(r'"(\w+)"', listed) == [outcome.value for outcome in Outcome]
