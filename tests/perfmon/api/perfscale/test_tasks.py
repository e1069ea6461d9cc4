"""GET/POST /api/v1/tasks and GET/DELETE /api/v1/tasks/:id."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.runs.ingest import claim_run
from perfmon.runs.judge import finish_run
from perfmon.runs.models import Run, RunStatus, RunTrigger
from runners.adapters import get_adapter
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_agent, make_monitor, make_test

pytestmark = pytest.mark.django_db

TASK_FIELDS = {
    "id", "test_id", "status", "p50", "p95", "p99", "error_rate", "requests_per_sec", "total_requests",
    "started_at", "finished_at",
}
EXTRA_FIELDS = {"detailed_status", "machine_id", "created_at", "error", "reason", "parts"}
METRICS = {"p50_ms": 142.0, "p95_ms": 310.0, "p99_ms": 490.0, "error_rate": 0.002, "throughput_rps": 230.5,
           "count": 6900}


def _run(tenant, *, test=None, status=RunStatus.PASS, agent=None, metrics=None, **fields) -> Run:
    return Run.all_tenants.create(tenant=tenant, test=test, agent=agent, tool="k6", status=status,
                                  metrics=metrics or {}, **fields)


def test_task_has_the_documented_fields_from_the_runs_metrics(v1, tokens, acme):
    test = make_test(acme)
    started = timezone.now() - timedelta(seconds=30)
    run = _run(acme, test=test, metrics=METRICS, started_at=started, completed_at=started + timedelta(seconds=30))

    body = v1.get(f"/tasks/{run.pk}", token=tokens("vera")).json()

    assert set(body) == TASK_FIELDS | EXTRA_FIELDS
    assert body["id"] == str(run.pk)
    assert body["test_id"] == str(test.pk)
    assert body["status"] == "passed"
    assert (body["p50"], body["p95"], body["p99"]) == (142.0, 310.0, 490.0)
    assert (body["error_rate"], body["requests_per_sec"], body["total_requests"]) == (0.002, 230.5, 6900)
    assert body["started_at"].endswith("Z") and body["finished_at"].endswith("Z")
    assert body["detailed_status"] == "pass"


def _judged(tenant, agent, report: RunReport) -> Run:
    """A task of a test, claimed by ``agent`` and judged from its report, as the agent API does it."""
    run = _run(tenant, test=make_test(tenant), status=RunStatus.QUEUED, agent=agent)
    claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
    return finish_run(agent=agent, run_id=run.pk, report=report)


def test_errored_task_says_why_in_reason_and_a_passed_one_has_none(v1, tokens, acme):
    agent = make_agent("acme-k6", tenant=acme, tools=("k6",))
    crash = get_adapter("k6").classify_exit(107)
    errored = _judged(acme, agent, RunReport(outcome="tool_failed", exit_code=107, error=crash.reason))
    builder = ResultBuilder()
    for index in range(10):
        builder.add(RequestRecord(ts=1_000.0 + index * 0.1, latency_ms=50.0, status=200))
    passed = _judged(acme, agent, RunReport(outcome="completed", exit_code=0, result=builder.result()))

    errored_body = v1.get(f"/tasks/{errored.pk}", token=tokens("vera")).json()
    passed_body = v1.get(f"/tasks/{passed.pk}", token=tokens("vera")).json()

    assert (errored_body["detailed_status"], errored_body["reason"]) == ("error", "k6 exited 107: script exception")
    assert (passed_body["detailed_status"], passed_body["reason"]) == ("pass", None)
    listed = {t["id"]: t["reason"] for t in v1.get("/tasks", token=tokens("vera")).json()}
    assert listed == {str(errored.pk): "k6 exited 107: script exception", str(passed.pk): None}


def test_task_without_results_has_null_figures(v1, tokens, acme):
    run = _run(acme, test=make_test(acme), status=RunStatus.QUEUED)

    body = v1.get(f"/tasks/{run.pk}", token=tokens("vera")).json()

    assert body["status"] == "pending"
    assert [body[k] for k in ("p50", "p95", "p99", "error_rate", "requests_per_sec", "total_requests",
                              "started_at", "finished_at")] == [None] * 8


@pytest.mark.parametrize(
    "run_status,task_status",
    [("queued", "pending"), ("running", "running"), ("pass", "passed"), ("fail", "failed"),
     ("error", "failed"), ("cancelled", "cancelled")],
)
def test_run_status_maps_to_the_documents_task_status(v1, tokens, acme, run_status, task_status):
    run = _run(acme, status=run_status)

    body = v1.get(f"/tasks/{run.pk}", token=tokens("vera")).json()

    assert (body["status"], body["detailed_status"]) == (task_status, run_status)


def test_list_is_newest_first_and_leaves_out_skipped_ticks(v1, tokens, acme, globex):
    old = _run(acme)
    _run(acme, status=RunStatus.SKIPPED)
    new = _run(acme, status=RunStatus.RUNNING)
    _run(globex)
    Run.all_tenants.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))

    listed = v1.get("/tasks", token=tokens("vera")).json()

    assert [t["id"] for t in listed] == [str(new.pk), str(old.pk)]


def test_list_takes_limit_and_offset(v1, tokens, acme):
    runs = [_run(acme) for _ in range(5)]
    for age, run in enumerate(runs):
        Run.all_tenants.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=age))

    page = v1.get("/tasks?limit=2&offset=1", token=tokens("vera")).json()

    assert [t["id"] for t in page] == [str(runs[1].pk), str(runs[2].pk)]
    bad = v1.get("/tasks?limit=0", token=tokens("vera"))
    assert bad.status_code == 400 and "limit" in bad.json()["details"]


def test_member_triggers_a_task_with_the_documented_camel_case_body(v1, tokens, acme):
    make_agent("acme-k6", tenant=acme, tools=("k6",))
    test = make_test(acme)

    response = v1.post("/tasks", {"testId": str(test.pk)}, token=tokens("max"))

    assert response.status_code == 202, response.content
    assert set(response.json()) == {"id", "status"}
    assert response.json()["status"] == "pending"
    run = Run.objects.for_tenant(acme).get(pk=response.json()["id"])
    assert (run.test_id, run.trigger, run.status, run.agent_id) == (test.pk, RunTrigger.API, RunStatus.QUEUED, "acme-k6")
    assert run.script == test.script
    assert v1.get(f"/tasks/{run.pk}", token=tokens("max")).json()["status"] == "pending"


def test_snake_case_test_id_is_accepted_too(v1, tokens, acme):
    make_agent("acme-k6", tenant=acme, tools=("k6",))
    test = make_test(acme)

    response = v1.post("/tasks", {"test_id": str(test.pk)}, token=tokens("max"))

    assert response.status_code == 202


def test_task_without_an_agent_is_accepted_and_fails_with_the_reason(v1, tokens, acme):
    test = make_test(acme)

    response = v1.post("/tasks", {"testId": str(test.pk)}, token=tokens("max"))

    assert response.status_code == 202
    assert response.json()["status"] == "failed"
    body = v1.get(f"/tasks/{response.json()['id']}", token=tokens("max")).json()
    assert "no agent available" in body["error"]


@pytest.mark.parametrize("body,field", [({}, "test_id"), ({"testId": ""}, "test_id"),
                                        ({"testId": "x", "test_id": "y"}, "test_id"), ({"tool": "k6"}, "tool")])
def test_invalid_trigger_body_is_400(v1, tokens, acme, body, field):
    response = v1.post("/tasks", body, token=tokens("max"))

    assert response.status_code == 400
    assert field in response.json()["details"]


def test_trigger_for_another_tenants_or_unknown_test_is_404(v1, tokens, acme, globex):
    for test_id in (make_test(globex).pk, make_monitor(acme).test.pk, uuid.uuid4(), "t_99"):
        response = v1.post("/tasks", {"testId": str(test_id)}, token=tokens("max"))
        assert response.status_code == 404
        assert response.json()["message"] == f"Test {test_id} does not exist"
    assert not Run.objects.for_tenant(acme).exists()


def test_archived_test_cannot_run(v1, tokens, acme):
    test = make_test(acme)
    test.status = "archived"
    test.save()

    response = v1.post("/tasks", {"testId": str(test.pk)}, token=tokens("max"))

    assert response.status_code == 409
    assert "archived" in response.json()["message"]


def test_delete_cancels_a_pending_task(v1, tokens, acme):
    run = _run(acme, test=make_test(acme), status=RunStatus.QUEUED)

    response = v1.delete(f"/tasks/{run.pk}", token=tokens("max"))

    assert response.status_code == 204
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert v1.get(f"/tasks/{run.pk}", token=tokens("max")).json()["status"] == "cancelled"


def test_delete_asks_the_agent_to_stop_a_running_task(v1, tokens, acme):
    run = _run(acme, status=RunStatus.RUNNING, agent=make_agent("acme-k6", tenant=acme),
               claimed_at=timezone.now())

    assert v1.delete(f"/tasks/{run.pk}", token=tokens("max")).status_code == 204

    run.refresh_from_db()
    assert run.cancel_requested_at is not None
    assert "max" in run.status_reason


def test_delete_of_a_finished_task_is_409(v1, tokens, acme):
    run = _run(acme, status=RunStatus.PASS)

    response = v1.delete(f"/tasks/{run.pk}", token=tokens("max"))

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


@pytest.mark.parametrize("method", ["get", "delete"])
def test_other_tenants_and_unknown_tasks_are_404(v1, tokens, acme, globex, method):
    foreign = _run(globex, status=RunStatus.QUEUED)
    for task_id in (foreign.pk, uuid.uuid4(), "task_99"):
        response = getattr(v1, method)(f"/tasks/{task_id}", token=tokens("ada"))
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "message": f"Task {task_id} does not exist"}
    foreign.refresh_from_db()
    assert foreign.status == RunStatus.QUEUED


def test_viewer_may_not_trigger_or_cancel(v1, tokens, acme):
    test = make_test(acme)
    run = _run(acme, status=RunStatus.QUEUED)

    assert v1.post("/tasks", {"testId": str(test.pk)}, token=tokens("vera")).status_code == 403
    assert v1.delete(f"/tasks/{run.pk}", token=tokens("vera")).status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_task_list_runs_a_constant_number_of_queries(v1, tokens, acme, django_assert_max_num_queries):
    token = tokens("vera")
    v1.get("/tasks", token=token)
    test = make_test(acme)
    agent = make_agent("acme-k6", tenant=acme)
    for _ in range(30):
        _run(acme, test=test, agent=agent, metrics=METRICS)

    with django_assert_max_num_queries(2):  # the caller (with membership and tenant), the rows
        response = v1.get("/tasks", token=token)

    assert len(response.json()) == 30
