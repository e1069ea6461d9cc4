"""The API document's flow over real HTTP on both sides: a token from Keycloak's token endpoint
(password grant, as the document's curl), then /api/v1 on a live perfmon server."""

from __future__ import annotations

import pytest
import requests

from perfmon.accounts.provider import reset_cache
from perfmon.runs.models import Run, RunStatus
from perfmon.tenants.services import create_tenant
from tests.factories import make_agent


@pytest.fixture
def live(live_server, keycloak, settings):
    for name, value in keycloak.settings().items():
        setattr(settings, name, value)
    reset_cache()
    yield live_server.url + "/api/v1"
    reset_cache()


def test_member_flow_from_token_to_cancelled_task(live, keycloak, transactional_db):
    acme = create_tenant(name="Acme", slug="acme")
    make_agent("acme-k6", tenant=acme, tools=("k6",))
    grant = requests.post(
        keycloak.token_endpoint,
        data={
            "grant_type": "password",
            "client_id": "perfscale-site",
            "client_secret": keycloak.client_secret,
            "username": "max@example.test",
            "password": "max-pw",
        },
        timeout=10,
    )
    assert grant.status_code == 200, grant.text
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {grant.json()['access_token']}"

    assert http.get(f"{live}/auth/me", timeout=10).json()["preferred_username"] == "max"
    test = http.post(f"{live}/tests", json={"name": "Checkout flow", "tool": "k6", "script": "x"}, timeout=10)
    assert test.status_code == 201
    task = http.post(f"{live}/tasks", json={"testId": test.json()["id"]}, timeout=10)
    assert task.status_code == 202
    assert task.json()["status"] == "pending"
    listed = http.get(f"{live}/tasks", timeout=10).json()
    assert [t["id"] for t in listed] == [task.json()["id"]]
    assert http.delete(f"{live}/tasks/{task.json()['id']}", timeout=10).status_code == 204
    assert Run.objects.for_tenant(acme).get().status == RunStatus.CANCELLED

    anonymous = requests.get(f"{live}/tasks", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="perfscale"'
    assert anonymous.json()["error"] == "unauthorized"


def test_unknown_route_under_api_v1_is_a_json_404(live, transactional_db):
    response = requests.get(f"{live}/nothing-here", timeout=10)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
