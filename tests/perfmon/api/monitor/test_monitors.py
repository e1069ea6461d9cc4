"""/api/monitors over HTTP with real keys: list, create (multipart and JSON), get, patch, delete."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils import timezone

from perfmon.definitions.models import TestDefinition
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import K6_SCRIPT, assert_envelope, b64, make_run, monitor_json


def multipart(client, key, data, path="/api/monitors", method="post"):
    """A real multipart/form-data request (Django's client encodes files and fields as a browser would)."""
    return getattr(client, method)(path, data=data, headers={"X-API-Key": key})


# --- list -----------------------------------------------------------------


def test_list_is_a_bare_array_in_the_documented_shape(api, acme, acme_key):
    make_monitor(acme, name="Login flow", schedule="*/15 * * * *",
                 thresholds={"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7})
    response = api.get("/api/monitors", key=acme_key)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    monitor = body[0]
    documented = {"id", "name", "tool", "schedule", "enabled", "thresholds", "lastRun", "lastStatus"}
    assert documented <= set(monitor)
    assert monitor["name"] == "Login flow" and monitor["tool"] == "k6" and monitor["enabled"] is True
    assert monitor["thresholds"] == {"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7}
    assert monitor["lastRun"] is None and monitor["lastStatus"] is None
    assert monitor["scheduleDescription"] == "Every 15 minutes"
    assert "scriptContent" not in monitor  # lists carry no scripts


def test_last_run_and_status_come_from_the_latest_judged_run(api, acme, acme_key):
    when = timezone.now().replace(microsecond=0)
    make_monitor(acme, last_run_at=when, last_status="fail")
    monitor = api.get("/api/monitors", key=acme_key).json()[0]
    assert monitor["lastStatus"] == "fail"
    assert monitor["lastRun"].replace("Z", "+00:00") == when.isoformat()


def test_list_is_sorted_by_name_and_holds_only_the_tenants_monitors(api, acme, globex, acme_key):
    for name in ("b", "a", "c"):
        make_monitor(acme, name=name)
    make_monitor(globex, name="foreign")
    names = [m["name"] for m in api.get("/api/monitors", key=acme_key).json()]
    assert names == ["a", "b", "c"]


def test_list_query_count_does_not_grow_with_monitors(api, acme, acme_key, django_assert_max_num_queries):
    for index in range(25):
        make_monitor(acme, name=f"m{index:02}")
    # key lookup + key touch + the list itself (tool joined, scripts not loaded)
    with django_assert_max_num_queries(4):
        response = api.get("/api/monitors", key=acme_key)
    assert len(response.json()) == 25


# --- create ---------------------------------------------------------------


def test_create_from_multipart_with_bracket_keys_and_a_real_file(client, acme, acme_key):
    upload = SimpleUploadedFile("load-test.js", K6_SCRIPT.encode(), content_type="application/javascript")
    response = multipart(client, acme_key, {
        "name": "Login flow",
        "schedule": "*/15 * * * *",
        "tool": "k6",
        "thresholds[latencyMs]": "2000",
        "thresholds[errorRatePercent]": "5.0",
        "thresholds[apdexMin]": "0.7",
        "parameters[TARGET_HOST]": "https://api.example.com",
        "script": upload,
    })
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["thresholds"] == {"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7}
    assert isinstance(body["thresholds"]["latencyMs"], int)
    assert body["parameters"] == {"TARGET_HOST": "https://api.example.com"}
    assert body["scriptFilename"] == "load-test.js"
    assert base64.b64decode(body["scriptContent"]).decode() == K6_SCRIPT
    assert response["Location"].endswith(f"/api/monitors/{body['id']}")
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get(pk=body["id"])
    assert monitor.test.script == K6_SCRIPT and monitor.test.tool == "k6"
    assert monitor.test.script_filename == "load-test.js"
    assert monitor.thresholds == {"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7}


def test_create_from_json_with_base64_script(api, acme, acme_key):
    response = api.post("/api/monitors", monitor_json(timezone="Europe/Berlin", apdexT=300, location="eu-west-1"),
                        key=acme_key)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tool"] == "k6" and body["schedule"] == "*/15 * * * *" and body["enabled"] is True
    assert body["timezone"] == "Europe/Berlin" and body["apdexT"] == 300 and body["location"] == "eu-west-1"
    assert body["agentId"] is None and body["lastRun"] is None and body["lastStatus"] is None
    assert body["thresholds"] == {"latencyMs": 2000, "errorRatePercent": 5.0}
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get(pk=body["id"])
    assert monitor.test.script == K6_SCRIPT
    assert monitor.next_run_at is not None and monitor.next_run_at > timezone.now()
    assert monitor.next_run_at.minute % 15 == 0


def test_create_defaults(api, acme, acme_key):
    body = api.post("/api/monitors", monitor_json(thresholds=None, parameters=None), key=acme_key).json()
    assert (body["timezone"], body["apdexT"], body["enabled"]) == ("UTC", 500, True)
    assert (body["thresholds"], body["parameters"], body["location"]) == ({}, {}, "")


def test_create_disabled_has_no_next_run(api, acme, acme_key):
    body = api.post("/api/monitors", monitor_json(enabled=False), key=acme_key).json()
    assert body["enabled"] is False and body["nextRunAt"] is None


def test_create_pinned_to_a_shared_agent(api, acme, acme_key):
    make_agent("shared-eu", tenant=None)
    body = api.post("/api/monitors", monitor_json(agentId="shared-eu"), key=acme_key).json()
    assert body["agentId"] == "shared-eu"


def test_create_pinned_to_another_tenants_agent_is_400(api, acme, globex, acme_key):
    make_agent("globex-only", tenant=globex)
    body = assert_envelope(api.post("/api/monitors", monitor_json(agentId="globex-only"), key=acme_key), 400)
    assert "agentId" in body["details"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule": "*/15 * * *"}, "schedule"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": "every minute"}, "schedule"),
        ({"tool": "wrk"}, "tool"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"scriptContent": "not base64!!"}, "scriptContent"),
        ({"scriptContent": "QUJD="}, "scriptContent"),  # wrong padding: strict
        ({"scriptContent": b64(b"\xff\xfe\x00binary")}, "scriptContent"),  # not UTF-8
        ({"scriptContent": ""}, "scriptContent"),
        ({"scriptContent": b64("   \n")}, "scriptContent"),
        ({"name": ""}, "name"),
        ({"apdexT": 0}, "apdexT"),
        ({"apdexT": "fast"}, "apdexT"),
        ({"enabled": "maybe"}, "enabled"),
        ({"parameters": {"1BAD": "x"}}, "parameters"),
        ({"parameters": {"NESTED": {"a": 1}}}, "parameters"),
        ({"parameters": ["A", "B"]}, "parameters"),
        ({"thresholds": [1, 2]}, "thresholds"),
        ({"agentId": "no-such-agent"}, "agentId"),
    ],
)
def test_create_rejects_invalid_input_with_field_details(api, acme, acme_key, change, field):
    body = assert_envelope(api.post("/api/monitors", monitor_json(**change), key=acme_key), 400, "invalid_request")
    assert field in body["details"], body
    assert Monitor.objects.for_tenant(acme).count() == 0
    assert TestDefinition.objects.for_tenant(acme).count() == 0


def test_unknown_tool_names_the_tools(api, acme_key):
    body = assert_envelope(api.post("/api/monitors", monitor_json(tool="wrk"), key=acme_key), 400)
    assert "wrk" in body["details"]["tool"][0] and "k6" in body["details"]["tool"][0]


def test_non_numeric_thresholds_are_reported_per_field(api, acme_key):
    # A JSON body's thresholds are JSON numbers, as the schema says: a numeric string is a form's way.
    thresholds = {"latencyMs": "fast", "errorRatePercent": "5.0", "apdexMin": True, "requests": {"login": {
        "latencyMs": "300"}}}
    body = assert_envelope(api.post("/api/monitors", monitor_json(thresholds=thresholds), key=acme_key), 400)
    assert set(body["details"]["thresholds"]) == {"latencyMs", "errorRatePercent", "apdexMin",
                                                  "requests.login.latencyMs"}


def test_json_values_of_the_wrong_type_are_400_and_store_nothing(api, acme, acme_key):
    for wrong in ({"location": 0}, {"apdexT": "500"}, {"enabled": "true"}, {"name": ["x"]}, {"apdexT": True},
                  {"tool": 1}):
        body = assert_envelope(api.post("/api/monitors", monitor_json(**wrong), key=acme_key), 400)
        assert set(body["details"]) == set(wrong), (wrong, body)
    assert Monitor.objects.for_tenant(acme).count() == 0


def test_out_of_range_and_unknown_thresholds_are_400(api, acme_key):
    thresholds = {"errorRatePercent": 150, "apdexMin": 2, "latencyMs": -1, "p95": 3}
    body = assert_envelope(api.post("/api/monitors", monitor_json(thresholds=thresholds), key=acme_key), 400)
    assert set(body["details"]["thresholds"]) == {"errorRatePercent", "apdexMin", "latencyMs", "p95"}


def test_non_numeric_multipart_threshold_is_400(client, acme, acme_key):
    response = multipart(client, acme_key, {
        "name": "x", "schedule": "* * * * *", "tool": "k6", "thresholds[latencyMs]": "two seconds",
        "script": SimpleUploadedFile("t.js", K6_SCRIPT.encode()),
    })
    body = assert_envelope(response, 400)
    assert "latencyMs" in body["details"]["thresholds"]


def test_oversized_script_is_400_with_the_limit(api, client, acme, acme_key, settings):
    settings.PERFMON_MAX_SCRIPT_BYTES = 1000
    body = assert_envelope(api.post("/api/monitors", monitor_json(scriptContent=b64("x" * 1001)), key=acme_key), 400)
    assert "1000" in body["details"]["scriptContent"][0]
    response = multipart(client, acme_key, {
        "name": "x", "schedule": "* * * * *", "tool": "k6",
        "script": SimpleUploadedFile("big.js", b"y" * 1001),
    })
    body = assert_envelope(response, 400)
    assert "1000" in body["details"]["script"][0]
    assert api.post("/api/monitors", monitor_json(scriptContent=b64("x" * 1000)), key=acme_key).status_code == 201


def test_default_script_limit_is_one_mebibyte(api, acme_key):
    just_over = "a" * (1024 * 1024 + 1)
    body = assert_envelope(api.post("/api/monitors", monitor_json(scriptContent=b64(just_over)), key=acme_key), 400)
    assert "1048576" in body["details"]["scriptContent"][0]


def test_empty_and_binary_uploads_are_400(client, acme_key):
    for content in (b"", b"\x89PNG\r\n\x1a\n\x00\x00"):
        response = multipart(client, acme_key, {
            "name": "x", "schedule": "* * * * *", "tool": "k6", "script": SimpleUploadedFile("s.js", content),
        })
        assert "script" in assert_envelope(response, 400)["details"]


def test_script_is_required_once(api, client, acme_key):
    body = assert_envelope(api.post("/api/monitors", monitor_json(scriptContent=None) | {}, key=acme_key), 400)
    assert "scriptContent" in body["details"]
    no_script = monitor_json()
    del no_script["scriptContent"]
    assert "scriptContent" in assert_envelope(api.post("/api/monitors", no_script, key=acme_key), 400)["details"]
    response = multipart(client, acme_key, {
        "name": "x", "schedule": "* * * * *", "tool": "k6", "scriptContent": b64(K6_SCRIPT),
        "script": SimpleUploadedFile("s.js", K6_SCRIPT.encode()),
    })
    assert "script" in assert_envelope(response, 400)["details"]


def test_unknown_fields_on_create_are_listed(api, acme_key):
    body = assert_envelope(api.post("/api/monitors", monitor_json(interval=5, owner="me"), key=acme_key), 400)
    assert set(body["details"]) == {"interval", "owner"}
    assert "interval" in body["message"] and "owner" in body["message"]


def test_malformed_bodies_are_400_not_500(client, api, acme_key):
    headers = {"X-API-Key": acme_key}
    broken = client.post("/api/monitors", data=b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb",
                         content_type="multipart/form-data; boundary=", headers=headers)
    assert_envelope(broken, 400)
    assert_envelope(client.post("/api/monitors", data="{not json", content_type="application/json",
                                headers=headers), 400)
    assert_envelope(client.post("/api/monitors", data="[1, 2]", content_type="application/json",
                                headers=headers), 400)
    assert_envelope(client.post("/api/monitors", data="a=b", content_type="text/csv", headers=headers), 415)


# --- get ------------------------------------------------------------------


def test_get_returns_the_monitor_with_its_script(api, acme, acme_key):
    created = api.post("/api/monitors", monitor_json(), key=acme_key).json()
    body = api.get(f"/api/monitors/{created['id']}", key=acme_key).json()
    assert body == created
    assert base64.b64decode(body["scriptContent"]).decode() == K6_SCRIPT


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-000000000000", "%20"])
def test_unknown_or_malformed_monitor_id_is_404(api, acme_key, bad_id):
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"/api/monitors/{bad_id}", key=acme_key)
        assert_envelope(response, 404, "not_found")
    assert_envelope(api.post(f"/api/monitors/{bad_id}/run", key=acme_key), 404)
    assert_envelope(api.get(f"/api/monitors/{bad_id}/runs", key=acme_key), 404)


def test_paths_with_a_trailing_slash_are_not_served(api, acme_key):
    assert_envelope(api.get("/api/monitors/", key=acme_key), 404)


# --- patch ----------------------------------------------------------------


@pytest.fixture
def created(api, acme, acme_key):
    return api.post("/api/monitors", monitor_json(), key=acme_key).json()


def test_patch_schedule_and_enabled_as_documented(api, acme, acme_key, created):
    response = api.patch(f"/api/monitors/{created['id']}", {"schedule": "*/5 * * * *", "enabled": False}, key=acme_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["schedule"] == "*/5 * * * *" and body["enabled"] is False and body["nextRunAt"] is None
    assert body["scheduleDescription"] == "Every 5 minutes"
    monitor = Monitor.objects.for_tenant(acme).get(pk=created["id"])
    assert monitor.next_run_at is None and not monitor.enabled


def test_patch_enable_sets_next_run_from_the_schedule(api, acme, acme_key, created):
    api.patch(f"/api/monitors/{created['id']}", {"enabled": False}, key=acme_key)
    body = api.patch(f"/api/monitors/{created['id']}", {"enabled": True, "schedule": "0 3 * * *",
                                                          "timezone": "America/New_York"}, key=acme_key).json()
    monitor = Monitor.objects.for_tenant(acme).get(pk=created["id"])
    assert monitor.next_run_at is not None
    local = monitor.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (3, 0)
    assert body["timezone"] == "America/New_York"


def test_patch_each_field_alone(api, acme, acme_key, created):
    make_agent("acme-eu", tenant=acme, location="eu")
    url = f"/api/monitors/{created['id']}"
    steps = [
        ({"name": "Checkout"}, "name", "Checkout"),
        ({"thresholds": {"apdexMin": 0.8}}, "thresholds", {"apdexMin": 0.8}),  # replaces the object
        ({"parameters": {"USERS": 10}}, "parameters", {"USERS": "10"}),
        ({"timezone": "Asia/Tokyo"}, "timezone", "Asia/Tokyo"),
        ({"agentId": "acme-eu"}, "agentId", "acme-eu"),
        ({"agentId": None}, "agentId", None),
        ({"location": "eu"}, "location", "eu"),
        ({"apdexT": 750}, "apdexT", 750),
        ({"tool": "locust", "scriptContent": b64("from locust import HttpUser\n")}, "tool", "locust"),
    ]
    for change, field, expected in steps:
        response = api.patch(url, change, key=acme_key)
        assert response.status_code == 200, (change, response.content)
        assert response.json()[field] == expected, change
    body = api.get(url, key=acme_key).json()
    assert base64.b64decode(body["scriptContent"]).decode() == "from locust import HttpUser\n"
    assert body["schedule"] == created["schedule"]  # untouched fields stay
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get(pk=created["id"])
    assert monitor.test.name == "Checkout" and monitor.parameters == {"USERS": "10"}
    assert monitor.test.parameters == {"USERS": "10"}  # the run snapshot merges both: they must agree


def test_patch_script_with_a_multipart_upload(client, acme, acme_key, created):
    response = client.patch(
        f"/api/monitors/{created['id']}",
        data=encode_multipart(BOUNDARY, {
            "script": SimpleUploadedFile("v2.js", b"export default function () {}\n"),
            "thresholds[latencyMs]": "900",
        }),
        content_type=MULTIPART_CONTENT,
        headers={"X-API-Key": acme_key},
    )
    assert response.status_code == 200, response.content
    assert response.json()["scriptFilename"] == "v2.js"
    assert response.json()["thresholds"] == {"latencyMs": 900}
    assert Monitor.objects.for_tenant(acme).select_related("test").get(pk=created["id"]).test.script.startswith("export")


def test_patch_unknown_fields_are_listed(api, acme_key, created):
    response = api.patch(f"/api/monitors/{created['id']}", {"enabled": False, "colour": "red", "cron": "x"},
                         key=acme_key)
    body = assert_envelope(response, 400)
    assert set(body["details"]) == {"colour", "cron"}
    assert "colour" in body["message"] and "cron" in body["message"]
    assert api.get(f"/api/monitors/{created['id']}", key=acme_key).json()["enabled"] is True  # nothing applied


@pytest.mark.parametrize(
    ("change", "field"),
    [({"schedule": "bad"}, "schedule"), ({"thresholds": {"latencyMs": "x"}}, "thresholds"),
     ({"scriptContent": "%%%"}, "scriptContent"), ({"timezone": "Nowhere"}, "timezone"), ({"name": ""}, "name"),
     ({"enabled": None}, "enabled")],
)
def test_patch_rejects_invalid_values(api, acme_key, created, change, field):
    body = assert_envelope(api.patch(f"/api/monitors/{created['id']}", change, key=acme_key), 400)
    assert field in body["details"]


def test_patch_with_an_empty_body_changes_nothing(api, acme_key, created):
    response = api.patch(f"/api/monitors/{created['id']}", {}, key=acme_key)
    assert response.status_code == 200
    assert response.json() == created  # updatedAt included: nothing was written
    assert api.get(f"/api/monitors/{created['id']}", key=acme_key).json() == created


# --- delete ---------------------------------------------------------------


def test_delete_removes_monitor_and_its_test_but_keeps_runs(api, acme, acme_key, created):
    monitor = Monitor.objects.for_tenant(acme).get(pk=created["id"])
    run = make_run(acme, monitor, status=RunStatus.PASS)
    response = api.delete(f"/api/monitors/{created['id']}", key=acme_key)
    assert response.status_code == 204 and response.content == b""
    assert not Monitor.objects.for_tenant(acme).exists()
    assert not TestDefinition.objects.for_tenant(acme).filter(pk=monitor.test_id).exists()
    kept = Run.objects.for_tenant(acme).get(pk=run.pk)
    assert kept.monitor_id is None and kept.test_id is None
    assert_envelope(api.get(f"/api/monitors/{created['id']}", key=acme_key), 404)
    assert_envelope(api.delete(f"/api/monitors/{created['id']}", key=acme_key), 404)


# --- license limits and tier intervals --------------------------------------


def test_creating_past_the_monitor_limit_is_403(api, acme, acme_key, settings):
    settings.PERFMON_COMMUNITY_MONITOR_LIMIT = 2
    for _ in range(2):
        assert api.post("/api/monitors", monitor_json(), key=acme_key).status_code == 201
    body = assert_envelope(api.post("/api/monitors", monitor_json(), key=acme_key), 403, "license_limit")
    assert "2" in body["message"]
    assert Monitor.objects.for_tenant(acme).count() == 2
    assert TestDefinition.objects.for_tenant(acme).count() == 2  # the refused one left nothing behind


def test_the_limit_counts_live_after_a_delete(api, acme, acme_key, settings):
    settings.PERFMON_COMMUNITY_MONITOR_LIMIT = 1
    first = api.post("/api/monitors", monitor_json(), key=acme_key).json()
    assert_envelope(api.post("/api/monitors", monitor_json(), key=acme_key), 403)
    api.delete(f"/api/monitors/{first['id']}", key=acme_key)
    assert api.post("/api/monitors", monitor_json(), key=acme_key).status_code == 201


def test_expired_license_refuses_new_monitors_with_403(api, acme, acme_key, license_for):
    from perfmon.tenants.models import License
    from perfmon.tenants.services import install_license

    install_license(tenant=acme, token=license_for("acme", monitor_limit=100))
    License.objects.for_tenant(acme).update(valid_until=timezone.now() - timedelta(days=1))
    body = assert_envelope(api.post("/api/monitors", monitor_json(), key=acme_key), 403, "license_limit")
    assert "expired" in body["message"]


def test_schedule_more_frequent_than_the_tier_allows_is_409(api, acme, acme_key, settings):
    settings.PERFMON_TIER_MIN_INTERVAL_MINUTES = {"community": 5}
    body = assert_envelope(api.post("/api/monitors", monitor_json(schedule="* * * * *"), key=acme_key), 409, "conflict")
    assert "community" in body["message"] and "schedule" in body["details"]
    uneven = assert_envelope(api.post("/api/monitors", monitor_json(schedule="0,2 * * * *"), key=acme_key), 409)
    assert "2 minutes" in uneven["message"]
    ok = api.post("/api/monitors", monitor_json(schedule="*/5 * * * *"), key=acme_key)
    assert ok.status_code == 201
    patched = api.patch(f"/api/monitors/{ok.json()['id']}", {"schedule": "*/2 * * * *"}, key=acme_key)
    assert_envelope(patched, 409)
    assert api.get(f"/api/monitors/{ok.json()['id']}", key=acme_key).json()["schedule"] == "*/5 * * * *"


def test_community_tier_allows_every_minute_by_default(api, acme_key):
    assert api.post("/api/monitors", monitor_json(schedule="* * * * *"), key=acme_key).status_code == 201


def test_a_licensed_tier_uses_its_own_minimum(api, acme, acme_key, settings, license_for):
    from perfmon.tenants.services import install_license

    settings.PERFMON_TIER_MIN_INTERVAL_MINUTES = {"community": 15, "professional": 1}
    assert_envelope(api.post("/api/monitors", monitor_json(schedule="*/5 * * * *"), key=acme_key), 409)
    install_license(tenant=acme, token=license_for("acme", tier="professional"))
    assert api.post("/api/monitors", monitor_json(schedule="* * * * *"), key=acme_key).status_code == 201


def test_active_runs_survive_their_monitors_deletion(api, acme, acme_key, created):
    monitor = Monitor.objects.for_tenant(acme).get(pk=created["id"])
    run = make_run(acme, monitor, status=RunStatus.RUNNING)
    assert api.delete(f"/api/monitors/{created['id']}", key=acme_key).status_code == 204
    assert Run.objects.for_tenant(acme).get(pk=run.pk).status == RunStatus.RUNNING


def test_a_body_past_the_upload_limit_is_413_in_the_envelope(api, acme_key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = assert_envelope(api.post("/api/monitors", monitor_json(scriptContent=b64("x" * 20_000)), key=acme_key),
                           413, "payload_too_large")
    assert "10000" in body["message"]
