"""GET/POST /api/v1/machines and GET/DELETE /api/v1/machines/:id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.core import credentials
from perfmon.fleet.models import Agent
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

MACHINE_FIELDS = {"id", "name", "hostname", "ip_address", "os", "arch", "cpu_cores", "memory_gb", "status", "drained"}
BODY = {
    "name": "my-runner",
    "hostname": "runner.example.com",
    "ip_address": "203.0.113.5",
    "os": "linux",
    "arch": "arm64",
    "cpu_cores": 4,
    "memory_gb": 8,
}


def test_member_registers_a_machine_and_gets_its_enrollment_token_once(v1, tokens, acme):
    response = v1.post("/machines", BODY, token=tokens("max"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MACHINE_FIELDS | {"enrollment_token"}
    assert {k: body[k] for k in BODY} == BODY
    assert body["id"] == "my-runner"
    assert body["status"] == "offline"  # no heartbeat yet
    assert body["enrollment_token"].startswith("pme_")
    agent = Agent.objects.for_tenant(acme).get(pk="my-runner")
    assert agent.tenant == acme
    assert credentials.matches(body["enrollment_token"], agent.enrollment_hash)
    listed = v1.get("/machines", token=tokens("max")).json()
    assert [m["id"] for m in listed] == ["my-runner"]
    assert "enrollment_token" not in listed[0]
    assert "enrollment_token" not in v1.get("/machines/my-runner", token=tokens("max")).json()


def test_machine_body_accepts_camel_case(v1, tokens, acme):
    body = {"name": "cc", "hostname": "cc.example", "ipAddress": "10.0.0.9", "cpuCores": 2, "memoryGb": 1.5}

    response = v1.post("/machines", body, token=tokens("max"))

    assert response.status_code == 201
    assert (response.json()["ip_address"], response.json()["cpu_cores"], response.json()["memory_gb"]) == (
        "10.0.0.9", 2, 1.5,
    )


def test_same_hostname_in_the_tenant_is_409(v1, tokens, acme):
    assert v1.post("/machines", BODY, token=tokens("max")).status_code == 201

    response = v1.post("/machines", {**BODY, "name": "another"}, token=tokens("ada"))

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "runner.example.com" in response.json()["message"]


def test_same_hostname_in_another_tenant_is_fine_and_ids_stay_unique(v1, tokens, acme, globex):
    first = v1.post("/machines", BODY, token=tokens("max")).json()
    second = v1.post("/machines", BODY, token=tokens("gina"))

    assert second.status_code == 201
    assert first["id"] == "my-runner"
    assert second.json()["id"] == "my-runner-2"  # agent ids are global: the slug gets a suffix


def test_machine_id_is_a_slug_of_the_name_or_hostname(v1, tokens, acme):
    named = v1.post("/machines", {"name": "Worker Node #1", "hostname": "w1.internal"}, token=tokens("max"))
    assert named.json()["id"] == "worker-node-1"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"hostname": "h"}, "name"),
        ({"name": "n"}, "hostname"),
        ({"name": "n", "hostname": "h", "ip_address": "not-an-ip"}, "ip_address"),
        ({"name": "n", "hostname": "h", "cpu_cores": "many"}, "cpu_cores"),
        ({"name": "n", "hostname": "h", "memory_gb": -1}, "memory_gb"),
        ({"name": "n", "hostname": "h", "colour": "blue"}, "colour"),
    ],
)
def test_invalid_machine_is_400_with_field_details(v1, tokens, acme, body, field):
    response = v1.post("/machines", body, token=tokens("max"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert field in response.json()["details"]


def test_body_that_is_not_an_object_is_400(v1, tokens, acme):
    response = v1.post("/machines", ["x"], token=tokens("max"))
    assert response.status_code == 400


def test_status_is_online_while_heartbeats_arrive(v1, tokens, acme):
    make_agent("live-one", tenant=acme, online=True)
    stale = make_agent("stale-one", tenant=acme, online=True)
    Agent.all_tenants.filter(pk=stale.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))

    listed = {m["id"]: m["status"] for m in v1.get("/machines", token=tokens("vera")).json()}

    assert listed == {"live-one": "online", "stale-one": "offline"}


def test_list_shows_only_the_tenants_own_machines(v1, tokens, acme, globex):
    make_agent("acme-box", tenant=acme)
    make_agent("globex-box", tenant=globex)
    make_agent("shared-box", tenant=None)

    assert [m["id"] for m in v1.get("/machines", token=tokens("vera")).json()] == ["acme-box"]


@pytest.mark.parametrize("machine_id", ["globex-box", "shared-box", "no-such-box"])
def test_other_tenants_and_shared_machines_are_404(v1, tokens, acme, globex, machine_id):
    make_agent("globex-box", tenant=globex)
    make_agent("shared-box", tenant=None)

    for response in (
        v1.get(f"/machines/{machine_id}", token=tokens("ada")),
        v1.delete(f"/machines/{machine_id}", token=tokens("ada")),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "message": f"Machine {machine_id} does not exist"}
    assert Agent.all_tenants.filter(pk__in=["globex-box", "shared-box"]).count() == 2


def test_delete_removes_an_idle_machine_and_keeps_its_history(v1, tokens, acme):
    agent = make_agent("old-box", tenant=acme)
    run = Run.all_tenants.create(tenant=acme, agent=agent, tool="k6", status=RunStatus.PASS)

    response = v1.delete("/machines/old-box", token=tokens("max"))

    assert response.status_code == 204
    assert not Agent.all_tenants.filter(pk="old-box").exists()
    run.refresh_from_db()
    assert run.agent_id is None


def test_delete_drains_a_busy_machine_first_and_removes_it_once_idle(v1, tokens, acme):
    agent = make_agent("busy-box", tenant=acme)
    run = Run.all_tenants.create(tenant=acme, agent=agent, tool="k6", status=RunStatus.RUNNING)

    response = v1.delete("/machines/busy-box", token=tokens("max"))

    assert response.status_code == 204
    agent.refresh_from_db()
    assert agent.drained
    assert v1.get("/machines/busy-box", token=tokens("max")).json()["drained"] is True
    Run.all_tenants.filter(pk=run.pk).update(status=RunStatus.PASS)
    assert v1.delete("/machines/busy-box", token=tokens("max")).status_code == 204
    assert not Agent.all_tenants.filter(pk="busy-box").exists()


def test_viewer_may_not_register_or_delete(v1, tokens, acme):
    make_agent("box", tenant=acme)

    assert v1.post("/machines", BODY, token=tokens("vera")).status_code == 403
    assert v1.delete("/machines/box", token=tokens("vera")).status_code == 403
    assert Agent.all_tenants.filter(pk="box").exists()


def test_machine_list_runs_a_constant_number_of_queries(v1, tokens, acme, django_assert_max_num_queries):
    token = tokens("vera")
    v1.get("/machines", token=token)  # the user exists from here on
    for i in range(25):
        make_agent(f"box-{i}", tenant=acme)

    with django_assert_max_num_queries(2):  # the caller (with membership and tenant), the rows
        response = v1.get("/machines", token=token)

    assert len(response.json()) == 25
