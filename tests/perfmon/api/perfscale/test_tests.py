"""GET/POST /api/v1/tests and GET/PATCH/DELETE /api/v1/tests/:id."""

from __future__ import annotations

import uuid

import pytest

from perfmon.definitions.models import TestDefinition
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_monitor, make_test

pytestmark = pytest.mark.django_db

TEST_FIELDS = {"id", "name", "tool", "status", "script", "created_at", "updated_at"}
ADDED_FIELDS = {"distribution"}
SCRIPT = "import http from 'k6/http'; export default function () { http.get('http://127.0.0.1/'); }"


def test_member_creates_a_test_in_draft_by_default(v1, tokens, acme):
    response = v1.post("/tests", {"name": "Checkout flow", "tool": "k6", "script": SCRIPT}, token=tokens("max"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == TEST_FIELDS | ADDED_FIELDS
    assert body["distribution"] is None
    assert (body["name"], body["tool"], body["status"], body["script"]) == ("Checkout flow", "k6", "draft", SCRIPT)
    assert body["created_at"].endswith("Z")
    assert TestDefinition.objects.for_tenant(acme).get(pk=body["id"]).script == SCRIPT


@pytest.mark.parametrize("tool", ["k6", "jmeter", "locust", "artillery", "gatling", "custom"])
def test_every_documented_tool_is_accepted(v1, tokens, acme, tool):
    response = v1.post("/tests", {"name": tool, "tool": tool, "script": "x", "status": "active"}, token=tokens("max"))

    assert response.status_code == 201
    assert (response.json()["tool"], response.json()["status"]) == (tool, "active")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "n", "tool": "wrk", "script": "x"}, "tool"),
        ({"name": "n", "tool": "k6", "script": "x", "status": "live"}, "status"),
        ({"tool": "k6", "script": "x"}, "name"),
        ({"name": "n", "tool": "k6"}, "script"),
        ({"name": "n", "tool": "k6", "script": ""}, "script"),
        ({"name": "", "tool": "k6", "script": "x"}, "name"),
        ({"name": "n", "tool": "k6", "script": "x", "schedule": "* * * * *"}, "schedule"),
    ],
)
def test_invalid_test_is_400_with_field_details(v1, tokens, acme, body, field):
    response = v1.post("/tests", body, token=tokens("max"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert field in response.json()["details"]


def test_list_is_newest_first_and_leaves_out_monitors_own_tests(v1, tokens, acme, globex):
    older = make_test(acme, name="older")
    newer = make_test(acme, name="newer")
    make_monitor(acme, name="a monitor")  # its test definition belongs to the monitor
    make_test(globex, name="globex's")

    listed = v1.get("/tests", token=tokens("vera")).json()

    assert [t["id"] for t in listed] == [str(newer.pk), str(older.pk)]


def test_patch_changes_name_script_and_status(v1, tokens, acme):
    test = make_test(acme, name="before")

    response = v1.patch(f"/tests/{test.pk}", {"name": "after", "script": "export default function () {}", "status": "archived"},
                        token=tokens("max"))

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["script"], body["status"]) == ("after", "export default function () {}", "archived")
    test.refresh_from_db()
    assert (test.name, test.script, test.status) == ("after", "export default function () {}", "archived")


def test_patch_of_one_field_keeps_the_others(v1, tokens, acme):
    test = make_test(acme, name="keep", script="keep me")

    assert v1.patch(f"/tests/{test.pk}", {"status": "draft"}, token=tokens("max")).status_code == 200

    test.refresh_from_db()
    assert (test.name, test.script, test.status) == ("keep", "keep me", "draft")


@pytest.mark.parametrize("body,field", [({"tool": "jmeter"}, "tool"), ({"status": "gone"}, "status"),
                                        ({"name": ""}, "name")])
def test_patch_rejects_what_the_document_does_not_allow(v1, tokens, acme, body, field):
    test = make_test(acme)

    response = v1.patch(f"/tests/{test.pk}", body, token=tokens("max"))

    assert response.status_code == 400
    assert field in response.json()["details"]


def test_delete_leaves_tasks_that_already_started_alone(v1, tokens, acme):
    test = make_test(acme, script="the script that ran")
    running = Run.all_tenants.create(tenant=acme, test=test, tool="k6", script=test.script, status=RunStatus.RUNNING)

    response = v1.delete(f"/tests/{test.pk}", token=tokens("max"))

    assert response.status_code == 204
    assert not TestDefinition.all_tenants.filter(pk=test.pk).exists()
    running.refresh_from_db()
    assert (running.status, running.script, running.test_id) == (RunStatus.RUNNING, "the script that ran", None)
    assert v1.get(f"/tasks/{running.pk}", token=tokens("max")).json()["test_id"] is None


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_tenants_monitors_and_unknown_tests_are_404(v1, tokens, acme, globex, method):
    foreign = make_test(globex)
    owned_by_monitor = make_monitor(acme).test
    for test_id in (foreign.pk, owned_by_monitor.pk, uuid.uuid4(), "t_99"):
        if method == "patch":
            response = v1.patch(f"/tests/{test_id}", {"name": "x"}, token=tokens("ada"))
        else:
            response = getattr(v1, method)(f"/tests/{test_id}", token=tokens("ada"))
        assert response.status_code == 404, (test_id, response.content)
        assert response.json() == {"error": "not_found", "message": f"Test {test_id} does not exist"}
    assert TestDefinition.all_tenants.filter(pk__in=[foreign.pk, owned_by_monitor.pk]).count() == 2


def test_viewer_reads_but_may_not_change(v1, tokens, acme):
    test = make_test(acme)

    assert v1.get(f"/tests/{test.pk}", token=tokens("vera")).status_code == 200
    assert v1.patch(f"/tests/{test.pk}", {"name": "x"}, token=tokens("vera")).status_code == 403
    assert v1.delete(f"/tests/{test.pk}", token=tokens("vera")).status_code == 403
    assert v1.post("/tests", {"name": "n", "tool": "k6", "script": "x"}, token=tokens("vera")).status_code == 403


def test_test_list_runs_a_constant_number_of_queries(v1, tokens, acme, django_assert_max_num_queries):
    token = tokens("vera")
    v1.get("/tests", token=token)
    for _ in range(25):
        make_test(acme)

    with django_assert_max_num_queries(2):  # the caller (with membership and tenant), the rows
        response = v1.get("/tests", token=token)

    assert len(response.json()) == 25


def test_a_body_past_the_upload_limit_is_413_in_the_envelope(v1, tokens, acme, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = v1.post("/tests", {"name": "big", "tool": "k6", "script": "x" * 20_000}, token=tokens("max"))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large" and "10000" in response.json()["message"]
    assert not TestDefinition.objects.for_tenant(acme).exists()
