"""/api/v1: a test's `distribution`, and a split task's merged figures with its `parts`."""

from __future__ import annotations

import pytest

from perfmon.definitions.models import TestDefinition
from perfmon.runs.models import PartStatus, Run, RunPart, RunStatus
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

SCRIPT = "import http from 'k6/http'; export default function () { http.get('http://127.0.0.1/'); }"


@pytest.fixture
def machines(acme):
    make_agent("eu-1", tenant=acme, location="eu-west-1")
    make_agent("us-1", tenant=acme, location="us-east-1")


def test_a_test_carries_its_distribution(v1, tokens, acme, machines):
    split = {"locations": {"eu-west-1": 75, "us-east-1": 25}}
    created = v1.post("/tests", {"name": "Spread", "tool": "k6", "script": SCRIPT, "status": "active",
                                 "distribution": split}, token=tokens("max"))

    assert created.status_code == 201, created.content
    assert created.json()["distribution"] == split
    path = f"/tests/{created.json()['id']}"
    assert v1.get(path, token=tokens("max")).json()["distribution"] == split
    assert v1.patch(path, {"distribution": {"agents": 2}}, token=tokens("max")).json()["distribution"] == {
        "agents": 2}


@pytest.mark.parametrize("distribution", [{"agents": 0}, {"locations": {"eu-west-1": 99}},
                                          {"locations": {"atlantis": 100}}, {"agents_per_location": 2}])
def test_a_bad_distribution_is_400_and_stores_nothing(v1, tokens, acme, machines, distribution):
    response = v1.post("/tests", {"name": "Bad", "tool": "k6", "script": SCRIPT, "distribution": distribution},
                       token=tokens("max"))

    assert response.status_code == 400, response.content
    assert "distribution" in response.content.decode()
    assert not TestDefinition.objects.for_tenant(acme).filter(name="Bad").exists()


def test_a_split_task_has_one_part_per_machine_and_merged_figures(v1, tokens, acme, machines):
    test = v1.post("/tests", {"name": "Spread", "tool": "k6", "script": SCRIPT, "status": "active",
                              "distribution": {"agents": 2}}, token=tokens("max")).json()

    accepted = v1.post("/tasks", {"test_id": test["id"]}, token=tokens("max"))

    assert accepted.status_code == 202, accepted.content
    run = Run.all_tenants.get(pk=accepted.json()["id"])
    assert run.distribution == {"agents": 2} and run.status == RunStatus.QUEUED
    for part, count in zip(run.parts.order_by("index"), (300, 100), strict=True):
        RunPart.all_tenants.filter(pk=part.pk).update(status=PartStatus.COMPLETED, metrics={
            "count": count, "errors": 0, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "error_rate": 0.0,
            "throughput_rps": count / 10})
    Run.all_tenants.filter(pk=run.pk).update(status=RunStatus.PASS, metrics={
        "count": 400, "errors": 0, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "error_rate": 0.0,
        "throughput_rps": 40.0, "parts": 2})

    task = v1.get(f"/tasks/{run.pk}", token=tokens("vera")).json()
    listed = next(t for t in v1.get("/tasks", token=tokens("vera")).json() if t["id"] == str(run.pk))

    assert task["total_requests"] == 400 and task["machine_id"] is None
    assert [(p["index"], p["share"], p["status"], p["total_requests"]) for p in task["parts"]] == [
        (0, 0.5, "completed", 300), (1, 0.5, "completed", 100)]
    assert {p["machine_id"] for p in task["parts"]} == {"eu-1", "us-1"}
    assert listed["parts"] == task["parts"]
