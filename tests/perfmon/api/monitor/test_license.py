"""GET/POST /api/settings/license."""

from __future__ import annotations

from tests.factories import make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope


def test_community_tier_without_a_license_counts_monitors_live(api, acme, acme_key, settings):
    settings.PERFMON_COMMUNITY_MONITOR_LIMIT = 10
    make_monitor(acme)
    make_monitor(acme, enabled=False)
    body = api.get("/api/settings/license", key=acme_key).json()
    assert {"tier", "monitorLimit", "monitorsUsed", "validUntil"} <= set(body)
    assert (body["tier"], body["monitorLimit"], body["monitorsUsed"], body["validUntil"]) == ("community", 10, 2, None)
    assert body["licensed"] is False and body["expired"] is False
    make_monitor(acme)
    assert api.get("/api/settings/license", key=acme_key).json()["monitorsUsed"] == 3


def test_post_installs_a_valid_key(api, acme, acme_key, license_for):
    token = license_for("acme", tier="professional", monitor_limit=50)
    response = api.post("/api/settings/license", {"licenseKey": token}, key=acme_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tier"], body["monitorLimit"], body["monitorsUsed"], body["licensed"]) == ("professional", 50, 0, True)
    assert body["validUntil"].endswith("Z")
    assert api.get("/api/settings/license", key=acme_key).json() == body


def test_post_rejects_invalid_keys_with_the_reason(api, acme, acme_key, license_for):
    cases = {
        "garbage": "not a perfmon license key",
        license_for("globex"): "issued for tenant 'globex'",
        license_for("acme", days=-1, issued_days_ago=10): "expired",
        license_for("acme")[:-4] + "AAAA": "signature does not verify",
    }
    for token, reason in cases.items():
        body = assert_envelope(api.post("/api/settings/license", {"licenseKey": token}, key=acme_key), 400)
        assert reason in body["message"] and reason in body["details"]["licenseKey"][0]
    assert api.get("/api/settings/license", key=acme_key).json()["tier"] == "community"


def test_post_needs_license_key_and_nothing_else(api, acme_key):
    assert "licenseKey" in assert_envelope(api.post("/api/settings/license", {}, key=acme_key), 400)["details"]
    body = assert_envelope(api.post("/api/settings/license", {"licenseKey": "x", "tier": "gold"}, key=acme_key), 400)
    assert set(body["details"]) == {"tier"}
