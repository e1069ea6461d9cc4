"""Thresholds of one request name on /api (JSON and multipart), and a run judged by them."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from perfmon.monitors.models import Monitor
from tests.perfmon.api.monitor.conftest import K6_SCRIPT, assert_envelope, monitor_json

pytestmark = pytest.mark.django_db


def test_json_and_multipart_thresholds_per_request_name(api, client, acme, acme_key):
    body = api.post("/api/monitors", monitor_json(thresholds={
        "latencyMs": 2000, "requests": {"login": {"latencyMs": 300, "errorRatePercent": 1}}}), key=acme_key)
    assert body.status_code == 201, body.content
    assert body.json()["thresholds"]["requests"] == {"login": {"latencyMs": 300, "errorRatePercent": 1}}

    upload = SimpleUploadedFile("load.js", K6_SCRIPT.encode(), content_type="application/javascript")
    form = client.post("/api/monitors", data={
        "name": "Per request", "schedule": "*/15 * * * *", "tool": "k6", "script": upload,
        "thresholds[requests][login][latencyMs]": "300", "thresholds[requests][GET /api/items][latencyPercentile]": "99",
        "thresholds[requests][GET /api/items][latencyMs]": "150",
    }, headers={"X-API-Key": acme_key})
    assert form.status_code == 201, form.content
    assert form.json()["thresholds"] == {"requests": {"login": {"latencyMs": 300},
                                                      "GET /api/items": {"latencyPercentile": 99, "latencyMs": 150}}}


@pytest.mark.parametrize("requests,key", [
    ({"login": {"apdexMin": 0.5}}, "requests.login.apdexMin"),
    ({"login": {"latencyMs": "fast"}}, "requests.login.latencyMs"),
    ({"login": 300}, "requests.login"),
    (["login"], "requests"),
])
def test_bad_request_thresholds_are_400_and_store_nothing(api, acme, acme_key, requests, key):
    response = api.post("/api/monitors", monitor_json(thresholds={"requests": requests}), key=acme_key)
    body = assert_envelope(response, 400, "invalid_request")
    assert key in str(body["details"]), body
    assert not Monitor.objects.for_tenant(acme).exists()
