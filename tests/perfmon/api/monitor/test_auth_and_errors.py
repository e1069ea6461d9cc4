"""Authentication, the rate limit, the browsable API and operators' sessions on /api."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from perfmon.api.monitor.throttling import parse_rate
from perfmon.tenants.models import Membership
from perfmon.tenants.services import create_api_key, revoke_api_key
from tests.factories import make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope, monitor_json
from tests.perfmon.api.monitor.endpoints import ALL, fill

ANY_IDS = {"monitorId": "00000000-0000-0000-0000-000000000001", "runId": "00000000-0000-0000-0000-000000000002",
           "otherRunId": "00000000-0000-0000-0000-000000000004",
           "alertId": "00000000-0000-0000-0000-000000000003", "agentId": "eu-west-1"}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ALL)
def test_every_endpoint_needs_a_key(api, method, path):
    response = getattr(api, method)(fill(path, ANY_IDS, method))
    assert_envelope(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == "X-API-Key"


@pytest.mark.parametrize(("method", "path"), ALL)
def test_every_endpoint_refuses_a_revoked_key(api, acme, method, path):
    new = create_api_key(tenant=acme, name="old")
    revoke_api_key(tenant=acme, api_key_id=new.api_key.pk)
    assert_envelope(getattr(api, method)(fill(path, ANY_IDS, method), key=new.value), 401)


def test_an_inactive_tenants_key_is_401(api, acme, acme_key):
    acme.is_active = False
    acme.save()
    assert_envelope(api.get("/api/monitors", key=acme_key), 401)


# --- rate limit -------------------------------------------------------------


def test_rate_limit_is_per_key_with_retry_after(api, acme, acme_key, settings):
    settings.PERFMON_API_RATE_LIMIT = "3/minute"
    other = create_api_key(tenant=acme, name="other").value
    for _ in range(3):
        assert api.get("/api/monitors", key=acme_key).status_code == 200
    limited = api.get("/api/monitors", key=acme_key)
    body = assert_envelope(limited, 429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "throttled" in body["message"].lower()
    assert api.get("/api/monitors", key=other).status_code == 200  # another key has its own budget
    assert_envelope(api.post("/api/monitors", monitor_json(), key=acme_key), 429)  # writes count too


def test_rate_limit_can_be_switched_off(api, acme_key, settings):
    settings.PERFMON_API_RATE_LIMIT = "off"
    for _ in range(5):
        assert api.get("/api/", key=acme_key).status_code == 200


def test_default_rate_limit_is_600_a_minute():
    from perfmon import settings as base

    assert parse_rate(base.PERFMON_API_RATE_LIMIT) == (600, 60)


@pytest.mark.parametrize(("text", "parsed"), [("600/minute", (600, 60)), ("10/s", (10, 1)), ("5/hours", (5, 3600)),
                                               ("100 / day", (100, 86400)), ("off", None), ("", None)])
def test_rate_setting_forms(text, parsed):
    assert parse_rate(text) == parsed


@pytest.mark.parametrize("text", ["600", "x/minute", "5/fortnight", "0/minute"])
def test_bad_rate_setting_is_a_configuration_error(text):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


# --- 500 ------------------------------------------------------------------


def test_an_unexpected_error_in_an_endpoint_is_a_500_envelope(api, acme, acme_key, monkeypatch):
    from perfmon.api.monitor.views import monitors

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(monitors, "monitors_for_tenant", boom)
    body = assert_envelope(api.get("/api/monitors", key=acme_key), 500, "internal_error")
    assert "fire" not in body["message"]


# --- browsable API and sessions ------------------------------------------


def test_browsable_api_renders_html_with_a_key(api, acme, acme_key):
    make_monitor(acme, name="Login flow")
    response = api.get("/api/monitors", key=acme_key, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert b"Login flow" in response.content


def _staff(username, *, superuser=False, tenant=None, role="admin"):
    user = get_user_model().objects.create_user(username=username, password="pw", is_staff=True,
                                                is_superuser=superuser)
    if tenant is not None:
        Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


def test_operator_session_picks_a_tenant_with_the_query_parameter(client, acme, globex):
    make_monitor(acme, name="acme's")
    make_monitor(globex, name="globex's")
    client.force_login(_staff("root", superuser=True))
    body = assert_envelope(client.get("/api/monitors"), 403, "forbidden")
    assert "?tenant=" in body["message"]
    assert [m["name"] for m in client.get("/api/monitors?tenant=acme").json()] == ["acme's"]
    assert [m["name"] for m in client.get("/api/monitors?tenant=globex").json()] == ["globex's"]
    assert_envelope(client.get("/api/monitors?tenant=nope"), 404)
    html = client.get("/api/?tenant=acme", HTTP_ACCEPT="text/html")
    assert html.status_code == 200 and b"/api/monitors?tenant=acme" in html.content


def test_staff_member_acts_in_their_own_tenant_with_their_role(client, acme, globex):
    make_monitor(acme, name="acme's")
    client.force_login(_staff("viewer", tenant=acme, role="viewer"))
    assert [m["name"] for m in client.get("/api/monitors").json()] == ["acme's"]
    assert_envelope(client.get("/api/monitors?tenant=globex"), 403)
    # A viewer reads but does not write (the CSRF check passes on this client).
    assert_envelope(client.post("/api/monitors", monitor_json(), content_type="application/json"), 403)


def test_session_writes_need_the_csrf_token(acme):
    client = Client(enforce_csrf_checks=True)
    client.force_login(_staff("ops", tenant=acme, role="admin"))
    refused = client.post("/api/monitors", monitor_json(), content_type="application/json")
    body = assert_envelope(refused, 403)
    assert "CSRF" in body["message"]
    page = client.get("/api/monitors", HTTP_ACCEPT="text/html")  # the browsable API hands out the token
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/monitors", monitor_json(), content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["name"] == "Login flow"


def test_non_staff_sessions_do_not_authenticate(client, alice):
    client.force_login(alice)
    assert_envelope(client.get("/api/monitors"), 401)
    assert_envelope(client.post("/api/monitors", {}, content_type="application/json"), 401)


def test_staff_without_tenant_or_superuser_is_refused(client, db):
    client.force_login(_staff("lonely"))
    assert "X-API-Key" in assert_envelope(client.get("/api/monitors?tenant=acme"), 403)["message"]


def test_acknowledgement_by_session_records_the_user(client, acme):
    from tests.perfmon.api.monitor.test_alerts import make_alert

    user = _staff("ops", tenant=acme, role="member")
    client.force_login(user)
    alert = make_alert(acme, make_monitor(acme))
    body = client.post(f"/api/alerts/{alert.pk}/acknowledge", {"note": "on it"}, content_type="application/json").json()
    assert body["acknowledgedBy"] == "user:ops"
    alert.refresh_from_db()
    assert alert.acknowledged_by == user


def test_a_member_may_not_install_a_license(client, acme):
    client.force_login(_staff("member", tenant=acme, role="member"))
    assert client.get("/api/settings/license").status_code == 200
    assert_envelope(client.post("/api/settings/license", {"licenseKey": "x"}, content_type="application/json"), 403)


def test_key_requests_need_no_csrf_token(acme, acme_key):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/monitors", monitor_json(), content_type="application/json",
                           headers={"X-API-Key": acme_key})
    assert response.status_code == 201, response.content
