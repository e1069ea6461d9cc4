"""Swagger UI at /swagger-ui/ and the /api/v1 OpenAPI schema, over real HTTP."""

from __future__ import annotations

import pytest
import requests
from drf_spectacular.validation import validate_schema

# Every path and method of docs/reference/api-perfscale.md.
DOCUMENTED = {
    "/api/v1/auth/me": {"get"},
    "/api/v1/machines": {"get", "post"},
    "/api/v1/machines/{machine_id}": {"delete"},
    "/api/v1/tests": {"get", "post"},
    "/api/v1/tests/{test_id}": {"patch", "delete"},
    "/api/v1/tasks": {"get", "post"},
    "/api/v1/tasks/{task_id}": {"get", "delete"},
}


@pytest.fixture
def schema(live_server):
    response = requests.get(f"{live_server.url}/api-docs/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


@pytest.mark.parametrize("page", ["/swagger-ui/", "/api/v1/docs/"])
def test_swagger_ui_renders_over_http_and_points_at_the_schema(live_server, page):
    response = requests.get(f"{live_server.url}{page}", timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert "openapi.json" in response.text  # the schema it loads (escaped in the page's script)


@pytest.mark.parametrize("page", ["/swagger-ui/", "/api/v1/docs/", "/api/docs/"])
def test_swagger_ui_answers_options_with_its_metadata_as_json(live_server, page):
    response = requests.options(f"{live_server.url}{page}", timeout=30)

    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    assert "GET" in response.headers["Allow"]


def test_schema_has_every_documented_path_and_method(schema):
    for path, methods in DOCUMENTED.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), (path, set(schema["paths"][path]))


def test_schema_covers_only_the_perfscale_surface(schema):
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    assert schema["info"]["title"] == "perfscale API"


def test_schema_declares_the_bearer_scheme_on_every_operation(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from the OpenID provider (Keycloak realm perfscale).",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"bearerAuth": []} in operation["security"], (path, method)


def test_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_schema_describes_the_documented_bodies(schema):
    components = schema["components"]["schemas"]
    assert set(components["Task"]["properties"]) >= {
        "id", "test_id", "status", "p50", "p95", "p99", "error_rate", "requests_per_sec", "total_requests",
        "started_at", "finished_at",
    }
    assert components["TestCreateRequest"]["properties"]["tool"]["enum"] == [
        "k6", "jmeter", "locust", "artillery", "gatling", "custom",
    ]
    assert "enrollment_token" in components["RegisteredMachine"]["properties"]
    assert components["Task"]["properties"]["status"]["enum"] == ["pending", "running", "passed", "failed", "cancelled"]
    assert components["Test"]["properties"]["status"]["enum"] == ["draft", "active", "archived"]
    assert components["Machine"]["properties"]["status"]["enum"] == ["online", "offline"]
