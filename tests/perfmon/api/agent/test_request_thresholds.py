"""A run judged by the thresholds of one request name (thresholds.requests)."""

from __future__ import annotations

import time
import uuid

import pytest

from perfmon.runs.models import Run
from perfmon.runs.reasons import run_reason
from perfmon.runs.services import request_run
from runners.builder import ResultBuilder
from runners.records import RequestRecord
from tests.factories import make_monitor

pytestmark = pytest.mark.django_db


def test_a_run_fails_on_one_request_names_threshold(client, acme, enrolled):
    monitor = make_monitor(acme, thresholds={"latencyMs": 1000, "requests": {"login": {"latencyMs": 100}}})
    run = request_run(tenant=acme, monitor=monitor)
    builder = ResultBuilder()
    start = time.time() - 10
    for i in range(95):
        builder.add(RequestRecord(ts=start + i * 0.01, latency_ms=5.0, status=200, name="home", method="GET"))
    for i in range(5):
        builder.add(RequestRecord(ts=start + i * 0.01, latency_ms=250.0, status=200, name="login", method="POST"))
    enrolled.post(f"/runs/{run.pk}/claim", {"claim_id": str(uuid.uuid4())})

    answer = enrolled.post(f"/runs/{run.pk}/result", {"outcome": "completed", "exit_code": 0,
                                                      "result": builder.result().to_dict()})

    assert answer.json() == {"status": "fail"}
    run = Run.all_tenants.get(pk=run.pk)
    assert run.breaches == [{"metric": "latencyMs", "threshold": 100.0, "actual": 250.0, "request": "login"}]
    assert run_reason(run) == "thresholds breached: login: p95 latency 250 ms > threshold 100 ms"
