"""The OpenAPI schema of /api: valid by drf-spectacular's own validation, and complete."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from tests.perfmon.api.monitor.endpoints import ADDED, ALL, DOCUMENTED


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "api.yaml"
    # --validate checks against the OpenAPI 3 JSON schema; --fail-on-warn fails on any
    # endpoint drf-spectacular could not describe exactly.
    call_command("spectacular", "--validate", "--fail-on-warn", "--urlconf", "perfmon.api.monitor.schema_urls",
                 "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_validates_and_lists_every_documented_and_added_path_and_method(schema_file):
    for method, path in ALL:
        assert path in schema_file["paths"], path
        assert method in schema_file["paths"][path], (method, path)


def test_schema_declares_the_api_key_scheme_on_every_operation(schema_file):
    assert schema_file["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": schema_file["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    for path, operations in schema_file["paths"].items():
        for method, operation in operations.items():
            assert {"ApiKeyAuth": []} in operation["security"], (method, path)


def test_schema_describes_both_create_bodies_and_the_error_envelope(schema_file):
    create = schema_file["paths"]["/api/monitors"]["post"]["requestBody"]["content"]
    multipart = create["multipart/form-data"]
    assert multipart["encoding"]["thresholds"]["style"] == "deepObject"
    components = schema_file["components"]["schemas"]
    assert components["MonitorMultipartCreateRequest"]["properties"]["script"]["format"] == "binary"
    assert components["MonitorJsonCreateRequest"]["properties"]["scriptContent"]["format"] == "byte"
    assert set(components["Error"]["required"]) == {"error", "message"}
    run = components["Run"]["properties"]
    # The documented fields plus reason and distribution, the additions (docs/api.md).
    assert set(run) == {"id", "monitorId", "startedAt", "completedAt", "status", "tool", "metrics",
                        "thresholdBreaches", "agentId", "reason", "distribution"}
    logs = schema_file["paths"]["/api/runs/{runId}/logs"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in logs


def test_schema_endpoint_serves_the_same_paths_and_only_this_surface(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    served = response.json()
    assert {path for _, path in DOCUMENTED + ADDED} <= set(served["paths"])
    assert not any(path.startswith("/api/v1") for path in served["paths"])
    assert served["info"]["title"] == "perfmon perf-monitor API"


def test_swagger_ui_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200 and b"swagger" in response.content.lower()
