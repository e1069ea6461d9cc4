"""A monitor's `distribution` on /api (JSON and multipart), a split run's parts and per-part series."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from perfmon.monitors.models import Monitor
from perfmon.runs.models import PartStatus, Run, RunPart, SeriesPoint
from perfmon.runs.services import request_run
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import K6_SCRIPT, assert_envelope, monitor_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def locations(acme):
    make_agent("eu-1", tenant=acme, location="eu-west-1")
    make_agent("eu-2", tenant=acme, location="eu-west-1")
    make_agent("us-1", tenant=acme, location="us-east-1")


def monitor_count(tenant) -> int:
    return Monitor.objects.for_tenant(tenant).count()


def test_json_distribution_is_stored_and_shown(api, acme, acme_key, locations):
    split = {"locations": {"eu-west-1": 60, "us-east-1": 40}, "agentsPerLocation": 2}
    response = api.post("/api/monitors", monitor_json(distribution=split), key=acme_key)

    assert response.status_code == 201, response.content
    assert response.json()["distribution"] == split
    assert api.get(f"/api/monitors/{response.json()['id']}", key=acme_key).json()["distribution"] == split
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get(pk=response.json()["id"])
    assert monitor.test.distribution == split


def test_multipart_distribution_uses_bracket_keys(client, acme, acme_key, locations):
    upload = SimpleUploadedFile("load.js", K6_SCRIPT.encode(), content_type="application/javascript")
    response = client.post("/api/monitors", data={
        "name": "Spread", "schedule": "*/15 * * * *", "tool": "k6", "script": upload,
        "distribution[locations][eu-west-1]": "60", "distribution[locations][us-east-1]": "40",
    }, headers={"X-API-Key": acme_key})

    assert response.status_code == 201, response.content
    assert response.json()["distribution"] == {"locations": {"eu-west-1": 60, "us-east-1": 40}}

    upload = SimpleUploadedFile("two.js", K6_SCRIPT.encode(), content_type="application/javascript")
    agents = client.post("/api/monitors", data={
        "name": "Two", "schedule": "*/15 * * * *", "tool": "k6", "script": upload, "distribution[agents]": "2",
    }, headers={"X-API-Key": acme_key})
    assert agents.status_code == 201, agents.content
    assert agents.json()["distribution"] == {"agents": 2}


def test_default_is_null_and_null_goes_back_to_one_agent(api, acme_key, locations):
    body = api.post("/api/monitors", monitor_json(), key=acme_key).json()
    assert body["distribution"] is None
    path = f"/api/monitors/{body['id']}"
    assert api.patch(path, {"distribution": {"agents": 3}}, key=acme_key).json()["distribution"] == {"agents": 3}
    assert api.patch(path, {"distribution": None}, key=acme_key).json()["distribution"] is None


@pytest.mark.parametrize(
    "distribution,says",
    [
        ({"locations": {"eu-west-1": 60, "us-east-1": 30}}, "100"),
        ({"locations": {"eu-west-1": 50, "mars-1": 50}}, "mars-1"),
        ({"agents": 0}, "agents"),
        ({"agents": -2}, "agents"),
        ({"agents": 11}, "10"),
        ({"agents": 2.5}, "agents"),
        ({"agents": "two"}, "agents"),
        ({"agents": 2, "locations": {"eu-west-1": 100}}, "exactly one"),
        ({"locations": {}}, "locations"),
        ({"locations": {"eu-west-1": 100}, "agentsPerLocation": 0}, "agentsPerLocation"),
        ({"zones": 2}, "zones"),
        ("2", "distribution"),
        ([2], "distribution"),
    ],
)
def test_bad_distributions_are_400_and_store_nothing(api, acme, acme_key, locations, distribution, says):
    response = api.post("/api/monitors", monitor_json(distribution=distribution), key=acme_key)

    body = assert_envelope(response, 400, "invalid_request")
    assert "distribution" in body["details"], body
    assert says in str(body["details"]["distribution"]) + body["message"], body
    assert monitor_count(acme) == 0


def test_a_pinned_agent_cannot_be_split(api, acme, acme_key, locations):
    response = api.post("/api/monitors", monitor_json(agentId="eu-1", distribution={"agents": 2}), key=acme_key)
    body = assert_envelope(response, 400, "invalid_request")
    assert "pinned" in str(body["details"]["distribution"])
    assert monitor_count(acme) == 0


def test_a_tool_that_cannot_give_every_part_load_is_400(api, acme, acme_key, locations):
    response = api.post("/api/monitors", monitor_json(
        tool="locust", scriptContent="ZnJvbSBsb2N1c3QgaW1wb3J0ICoK", parameters={"LOCUST_USERS": "1"},
        distribution={"agents": 2}), key=acme_key)

    body = assert_envelope(response, 400, "invalid_request")
    assert "every part needs at least one user" in str(body["details"]["distribution"]), body
    assert monitor_count(acme) == 0


def test_a_patch_that_breaks_the_split_changes_nothing(api, acme, acme_key, locations):
    body = api.post("/api/monitors", monitor_json(distribution={"agents": 2}), key=acme_key).json()
    response = api.patch(f"/api/monitors/{body['id']}", {"agentId": "eu-1"}, key=acme_key)

    assert_envelope(response, 400, "invalid_request")
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get(pk=body["id"])
    assert monitor.agent_id is None and monitor.test.distribution == {"agents": 2}


# --- a split run's parts --------------------------------------------------------------------

def a_result(latency_ms: float, n: int) -> dict:
    builder = ResultBuilder(apdex_t_ms=500)
    start = time.time() - 10
    for i in range(n):
        builder.add(RequestRecord(ts=start + i * 0.01, latency_ms=latency_ms, status=200))
    return builder.result().to_dict()


@pytest.fixture
def split_run(acme, locations):
    """A split run of two parts, both completed with their own results, series stored per part."""
    monitor = make_monitor(acme)
    run = request_run(tenant=acme, monitor=monitor, distribution={"locations": {"eu-west-1": 60, "us-east-1": 40}})
    results = {}
    for part, (latency, n) in zip(run.parts.order_by("index"), ((10.0, 30), (50.0, 20)), strict=True):
        result = a_result(latency, n)
        results[part.index] = result
        for seq, point in enumerate(result["series"]):
            SeriesPoint.all_tenants.create(
                run=run, part=part.index, seq=seq, start=datetime.fromtimestamp(point["start"], UTC), interval_s=point["interval_s"],
                count=point["count"], errors=point["errors"], p50_ms=point["p50_ms"], p95_ms=point["p95_ms"],
                p99_ms=point["p99_ms"], throughput_rps=point["throughput_rps"], histogram=point["histogram"],
                covered_s=point.get("covered_s"))
        RunPart.all_tenants.filter(pk=part.pk).update(
            status=PartStatus.COMPLETED, claim_id=uuid.uuid4(), metrics={k: v for k, v in result.items()
                                                                         if k not in ("series", "histogram")},
            histogram=result["histogram"])
    from perfmon.runs.parts import conclude
    Run.all_tenants.filter(pk=run.pk).update(status="running")
    conclude(Run.all_tenants.get(pk=run.pk))
    return Run.all_tenants.get(pk=run.pk), results


def test_the_run_shows_the_merged_figures_and_no_agent(api, acme_key, split_run):
    run, _ = split_run
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()

    assert body["agentId"] is None
    assert body["distribution"] == {"locations": {"eu-west-1": 60, "us-east-1": 40}}
    assert body["status"] == "pass" and body["metrics"]["totalRequests"] == 50


def test_parts_lists_each_agent_with_its_own_figures(api, acme_key, split_run):
    run, results = split_run
    response = api.get(f"/api/runs/{run.pk}/parts", key=acme_key)

    assert response.status_code == 200, response.content
    parts = response.json()
    assert [(p["agentId"] in ("eu-1", "eu-2"), p["location"], p["share"], p["status"]) for p in parts] == [
        (True, "eu-west-1", 0.6, "completed"), (False, "us-east-1", 0.4, "completed")]
    assert parts[1]["agentId"] == "us-1"
    assert {"agentId", "location", "share", "status", "startedAt", "completedAt", "metrics"} <= set(parts[0])
    run_metrics = set(api.get(f"/api/runs/{run.pk}", key=acme_key).json()["metrics"])
    assert set(parts[0]["metrics"]) == run_metrics
    assert [p["metrics"]["totalRequests"] for p in parts] == [30, 20]
    assert parts[1]["metrics"]["p95"] == pytest.approx(results[1]["p95_ms"])


def test_series_of_one_part_and_of_the_whole_run(api, acme_key, split_run):
    run, _ = split_run
    whole = api.get(f"/api/runs/{run.pk}/series", key=acme_key).json()
    second = api.get(f"/api/runs/{run.pk}/series?part=1", key=acme_key).json()

    def total(body):
        return sum(point["count"] for point in (body["points"] if isinstance(body, dict) else body))

    assert total(whole) == 50 and total(second) == 20
    bad = api.get(f"/api/runs/{run.pk}/series?part=x", key=acme_key)
    assert_envelope(bad, 400)


def test_a_run_of_one_agent_has_no_parts(api, acme, acme_key, locations):
    run = request_run(tenant=acme, monitor=make_monitor(acme))
    assert api.get(f"/api/runs/{run.pk}/parts", key=acme_key).json() == []


def test_another_tenants_parts_are_404(api, split_run, globex_key):
    run, _ = split_run
    assert_envelope(api.get(f"/api/runs/{run.pk}/parts", key=globex_key), 404)
    assert_envelope(api.get(f"/api/runs/{run.pk}/series?part=0", key=globex_key), 404)


ARTILLERY_ONE_A_SECOND = """config:
  target: "http://127.0.0.1:1"
  phases:
    - duration: 5
      arrivalRate: 1
scenarios:
  - flow:
      - get:
          url: "/"
"""


def test_an_artillery_script_whose_phases_cannot_feed_every_part_is_400(api, acme, acme_key, locations):
    from tests.perfmon.api.monitor.conftest import b64

    refused = api.post("/api/monitors", monitor_json(tool="artillery", scriptContent=b64(ARTILLERY_ONE_A_SECOND),
                                                     parameters=None, distribution={"agents": 3}), key=acme_key)
    body = assert_envelope(refused, 400, "invalid_request")
    assert "artillery cannot split this run" in str(body["details"]["distribution"]), body
    assert monitor_count(acme) == 0

    fed = ARTILLERY_ONE_A_SECOND.replace("arrivalRate: 1", "arrivalRate: 3")
    accepted = api.post("/api/monitors", monitor_json(tool="artillery", scriptContent=b64(fed), parameters=None,
                                                      distribution={"agents": 3}), key=acme_key)
    assert accepted.status_code == 201, accepted.content
    back = api.patch(f"/api/monitors/{accepted.json()['id']}", {"scriptContent": b64(ARTILLERY_ONE_A_SECOND)},
                     key=acme_key)
    assert_envelope(back, 400, "invalid_request")
