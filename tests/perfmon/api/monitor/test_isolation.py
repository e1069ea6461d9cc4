"""Tenant isolation: another tenant's key gets 404 on every endpoint; lists never show foreign rows."""

from __future__ import annotations

import pytest

from perfmon.alerts.models import Alert, AlertState
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope, b64, make_run
from tests.perfmon.api.monitor.endpoints import ALL, QUERIES, fill
from tests.perfmon.api.monitor.test_alerts import make_alert

BODIES = {
    ("patch", "/api/monitors/{monitorId}"): {"enabled": False, "scriptContent": b64("hijacked")},
    ("post", "/api/alerts/{alertId}/acknowledge"): {"note": "not yours"},
}

# Figures a leak would show: a breakdown with a request name of acme's.
ACME_FIGURES = {"count": 3, "p95_ms": 12.0}
ACME_REQUESTS = [{"name": "acme secret path", "method": "GET", "count": 3, "errors": 1, "status_codes": {"200": 2},
                  "causes": {"acme secret cause": 1}, "samples": [], "p95_ms": 12.0}]


@pytest.fixture
def acme_world(acme):
    agent = make_agent("acme-private", tenant=acme)
    monitor = make_monitor(acme, name="acme secret")
    run = make_run(acme, monitor, agent=agent, logs=["acme output\n"], metrics=ACME_FIGURES)
    other = make_run(acme, None, agent=agent, metrics=ACME_FIGURES)
    Run.all_tenants.filter(pk__in=[run.pk, other.pk]).update(requests=ACME_REQUESTS,
                                                             checks={"acme check": {"passes": 1, "fails": 0}})
    alert = make_alert(acme, monitor)
    return {"monitorId": str(monitor.pk), "runId": str(run.pk), "otherRunId": str(other.pk),
            "alertId": str(alert.pk), "agentId": agent.pk}


# Every endpoint that names an object of the tenant: in its path, or in its query (compare).
ID_ENDPOINTS = [(method, path) for method, path in ALL if "{" in path or (method, path) in QUERIES]


@pytest.mark.parametrize(("method", "path"), ID_ENDPOINTS)
def test_another_tenants_key_gets_404(api, acme, acme_world, globex, globex_key, method, path):
    make_agent("globex-1", tenant=globex)  # globex can dispatch, so only scoping stops the run
    url = fill(path, acme_world, method)
    response = getattr(api, method)(url, BODIES.get((method, path)), key=globex_key) if method in ("post", "patch") \
        else getattr(api, method)(url, key=globex_key)
    assert_envelope(response, 404, "not_found")
    assert b"acme secret" not in response.content
    # Nothing of acme's changed.
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get()
    assert monitor.enabled and "hijacked" not in monitor.test.script
    assert Run.objects.for_tenant(acme).count() == 2 and not Run.objects.for_tenant(globex).exists()
    assert not Run.objects.for_tenant(acme).filter(cancel_requested_at__isnull=False).exists()
    assert Alert.objects.for_tenant(acme).get().state == AlertState.OPEN


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p in ID_ENDPOINTS if m == "get"])
def test_the_owner_reads_what_another_tenant_gets_404_for(api, acme_world, acme_key, method, path):
    response = api.get(fill(path, acme_world, method), key=acme_key)
    assert response.status_code == 200, response.content[:300]


def test_lists_never_include_foreign_rows(api, acme, acme_world, globex, globex_key):
    make_monitor(globex, name="globex own")
    make_alert(globex, None)
    assert [m["name"] for m in api.get("/api/monitors", key=globex_key).json()] == ["globex own"]
    alerts = api.get("/api/alerts", key=globex_key).json()
    assert len(alerts) == 1 and alerts[0]["monitorId"] is None
    assert_envelope(api.get(f"/api/alerts?monitorId={acme_world['monitorId']}", key=globex_key), 404)
    assert api.get("/api/agents", key=globex_key).json() == []
    assert api.get("/api/settings/license", key=globex_key).json()["monitorsUsed"] == 1


def test_a_shared_agent_shows_each_tenant_only_its_own_runs(api, acme, globex, acme_key, globex_key):
    shared = make_agent("shared-1", tenant=None)
    make_run(acme, make_monitor(acme), agent=shared, status=RunStatus.PASS)
    assert api.get("/api/agents/shared-1/metrics", key=acme_key).json()["runs"]["total"] == 1
    assert api.get("/api/agents/shared-1/metrics", key=globex_key).json()["runs"]["total"] == 0
    assert [a["id"] for a in api.get("/api/agents", key=globex_key).json()] == ["shared-1"]


def test_a_monitor_cannot_be_pinned_to_another_tenants_agent_by_patch(api, acme, globex, acme_key):
    make_agent("globex-1", tenant=globex)
    monitor = make_monitor(acme)
    body = assert_envelope(api.patch(f"/api/monitors/{monitor.pk}", {"agentId": "globex-1"}, key=acme_key), 400)
    assert "agentId" in body["details"]
