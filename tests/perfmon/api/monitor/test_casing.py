"""/api speaks camelCase from snake_case serializers: the schema and the answers agree on the names,
and keys that are data (parameter names, an alert's details, error details, maps) are never re-cased."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertKind
from perfmon.api.common.casing import is_camel
from perfmon.api.monitor.casing import CamelCaseJSONRenderer
from perfmon.fleet.models import AgentMetricSample
from perfmon.monitors.models import Monitor
from perfmon.runs.models import RunStatus
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import K6_SCRIPT, assert_envelope, make_run, monitor_json

# Parameter names are environment variables: lowercase ones with underscores are valid and
# are exactly what a blind camelizer would turn into apiToken.
PARAMETERS = {"TARGET_HOST": "https://api.example.com", "api_token": "s3cret", "retry_after_s": "5"}


def served_schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()["components"]["schemas"]


def fields_of(components: dict, name: str) -> set[str]:
    names = set(components[name]["properties"])
    assert all(is_camel(field) for field in names), (name, names)
    return names


def test_schema_and_answers_name_the_same_camelcase_fields(client, api, acme, acme_key):
    components = served_schema(client)
    created = api.post("/api/monitors", monitor_json(parameters=PARAMETERS, apdexT=300), key=acme_key)
    assert created.status_code == 201, created.content
    detail = created.json()
    assert set(detail) == fields_of(components, "MonitorDetail")
    assert set(api.get("/api/monitors", key=acme_key).json()[0]) == fields_of(components, "Monitor")
    assert detail["apdexT"] == 300 and detail["scheduleDescription"] == "Every 15 minutes"

    monitor = Monitor.objects.for_tenant(acme).get(pk=detail["id"])
    run = make_run(acme, monitor, status=RunStatus.FAIL, metrics={"p95_ms": 2500.0, "error_rate": 0.25, "count": 8},
                   breaches=[{"metric": "latencyMs", "threshold": 2000.0, "actual": 2500.0},
                             {"metric": "latencyMs", "threshold": 100.0, "actual": 250.0, "request": "login"}])
    body = api.get(f"/api/runs/{run.pk}", key=acme_key).json()
    assert set(body) == fields_of(components, "Run")
    assert set(body["metrics"]) == fields_of(components, "RunMetrics")
    assert (body["metrics"]["errorRate"], body["metrics"]["totalRequests"]) == (0.25, 8)
    assert set(body["thresholdBreaches"][1]) == fields_of(components, "Breach")
    assert "request" not in body["thresholdBreaches"][0]  # only a request name's breach names one

    agent = make_agent("eu-west-1", tenant=acme)
    AgentMetricSample.all_tenants.create(agent=agent, recorded_at=timezone.now(), cpu_percent=12.5,
                                         memory_percent=40.0, load1=0.5, disk_free_gb=80.0, running_runs=1)
    make_run(acme, monitor, status=RunStatus.RUNNING, agent=agent)
    metrics = api.get("/api/agents/eu-west-1/metrics", key=acme_key).json()
    assert set(metrics) == fields_of(components, "AgentMetrics")
    assert set(metrics["samples"][0]) == fields_of(components, "AgentSample")
    assert set(metrics["runs"]) == fields_of(components, "AgentRunCounts")
    assert metrics["runs"]["byStatus"] == {"running": 1}
    assert set(api.get("/api/settings/license", key=acme_key).json()) == fields_of(components, "License")


def test_parameter_names_are_data_and_keep_their_case(client, api, acme, acme_key):
    body = api.post("/api/monitors", monitor_json(parameters=PARAMETERS), key=acme_key).json()
    assert body["parameters"] == PARAMETERS
    assert Monitor.objects.for_tenant(acme).get(pk=body["id"]).parameters == PARAMETERS
    # Multipart bracket keys: the field name is before the bracket, the key inside it is data.
    response = client.post("/api/monitors", headers={"X-API-Key": acme_key}, data={
        "name": "form", "schedule": "*/15 * * * *", "tool": "k6", "apdexT": "250",
        "thresholds[latencyMs]": "2000", "parameters[api_token]": "s3cret", "parameters[TARGET_HOST]": "x",
        "script": SimpleUploadedFile("load-test.js", K6_SCRIPT.encode()),
    })
    assert response.status_code == 201, response.content
    monitor = Monitor.objects.for_tenant(acme).get(pk=response.json()["id"])
    assert monitor.parameters == {"api_token": "s3cret", "TARGET_HOST": "x"}
    assert monitor.thresholds == {"latencyMs": 2000} and monitor.apdex_t_ms == 250


def test_an_alerts_details_are_rendered_as_stored(api, acme, acme_key):
    details = {"worst": {"p95_ms": 2500.0, "error_rate": 0.25}, "lastError": "", "last_breaches": []}
    Alert.all_tenants.create(tenant=acme, monitor=make_monitor(acme), kind=AlertKind.RUN_FAILED, title="slow",
                             opened_at=timezone.now(), details=details)
    assert api.get("/api/alerts", key=acme_key).json()[0]["details"] == details


def test_error_details_name_fields_as_the_client_sent_them(api, acme, acme_key):
    body = assert_envelope(api.post("/api/monitors", monitor_json(apdexT=0), key=acme_key), 400)
    assert set(body["details"]) == {"apdexT"} and body["message"].startswith("apdexT: ")
    body = assert_envelope(api.post("/api/monitors", monitor_json(parameters={"9_lives": "x"}), key=acme_key), 400)
    assert set(body["details"]["parameters"]) == {"9_lives"}
    body = assert_envelope(api.post("/api/monitors", monitor_json(scheduleNote="x"), key=acme_key), 400)
    assert body["details"] == {"scheduleNote": ["Unknown field."]}
    # The snake_case spelling of a real field is not that field on /api: it is unknown, as sent.
    body = assert_envelope(api.post("/api/monitors", monitor_json(apdex_t=300, Name="x"), key=acme_key), 400)
    assert body["details"] == {"Name": ["Unknown field."], "apdex_t": ["Unknown field."]}
    assert not Monitor.objects.for_tenant(acme).exists()
    body = assert_envelope(api.post("/api/settings/license", {"license_key": "x"}, key=acme_key), 400)
    assert body["details"] == {"license_key": ["Unknown field."]}


def test_the_renderer_leaves_data_keyed_maps_alone():
    rendered = CamelCaseJSONRenderer().render({
        "run_status": "running",
        "points": [{"covered_s": 1.0, "status_codes": {"200": 9, "connection_error": 1}}],
        "details": {"non_field_errors": ["x"]},
        "by_status": {"queued": 1},
        7: {"window_hours": 24},
    })
    assert json.loads(rendered) == {
        "runStatus": "running",
        "points": [{"coveredS": 1.0, "statusCodes": {"200": 9, "connection_error": 1}}],
        "details": {"non_field_errors": ["x"]},
        "byStatus": {"queued": 1},
        "7": {"windowHours": 24},
    }
