"""Alert history and acknowledgement over /api."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertKind, AlertState
from tests.factories import make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope


def make_alert(tenant, monitor=None, *, state=AlertState.OPEN, minutes_ago=0, kind=AlertKind.RUN_FAILED) -> Alert:
    return Alert.all_tenants.create(
        tenant=tenant, monitor=monitor, kind=kind, state=state, title=f"alert {minutes_ago}",
        opened_at=timezone.now() - timedelta(minutes=minutes_ago),
        details={"breaches": [{"metric": "latencyMs", "threshold": 300, "actual": 420}]},
        resolved_at=timezone.now() if state == AlertState.RESOLVED else None,
    )


def test_alerts_are_a_bare_array_newest_first(api, acme, acme_key):
    monitor = make_monitor(acme)
    alerts = [make_alert(acme, monitor, minutes_ago=m, state=AlertState.RESOLVED) for m in (30, 10, 20)]
    body = api.get("/api/alerts", key=acme_key).json()
    assert isinstance(body, list)
    assert [a["id"] for a in body] == [str(alerts[1].pk), str(alerts[2].pk), str(alerts[0].pk)]
    first = body[0]
    assert first["monitorId"] == str(monitor.pk) and first["kind"] == "run_failed" and first["state"] == "resolved"
    assert first["details"]["breaches"][0]["metric"] == "latencyMs"
    assert first["acknowledgedAt"] is None and first["acknowledgedBy"] is None and first["note"] == ""


def test_alerts_filter_by_monitor_state_and_limit(api, acme, acme_key):
    one, two = make_monitor(acme), make_monitor(acme)
    for minutes in range(60):
        make_alert(acme, one, minutes_ago=minutes, state=AlertState.RESOLVED)
    make_alert(acme, two, minutes_ago=1)
    assert len(api.get("/api/alerts", key=acme_key).json()) == 50  # the default limit
    narrowed = api.get(f"/api/alerts?monitorId={one.pk}&limit=5", key=acme_key).json()
    assert len(narrowed) == 5 and {a["monitorId"] for a in narrowed} == {str(one.pk)}
    assert narrowed[0]["openedAt"] > narrowed[-1]["openedAt"]
    open_only = api.get("/api/alerts?state=open", key=acme_key).json()
    assert [a["monitorId"] for a in open_only] == [str(two.pk)]
    page = api.get(f"/api/alerts?monitorId={one.pk}&limit=10&offset=55", key=acme_key).json()
    assert len(page) == 5


def test_alerts_filter_by_time_opened(api, acme, acme_key):
    monitor = make_monitor(acme)
    alerts = {m: make_alert(acme, monitor, minutes_ago=m, state=AlertState.RESOLVED) for m in (5, 65, 125)}
    since = (timezone.now() - timedelta(minutes=90)).isoformat()
    until = (timezone.now() - timedelta(minutes=30)).isoformat()
    window = api.get("/api/alerts", key=acme_key, data={"since": since, "until": until}).json()
    assert [a["id"] for a in window] == [str(alerts[65].pk)]
    recent = api.get("/api/alerts", key=acme_key, data={"since": since}).json()
    assert [a["id"] for a in recent] == [str(alerts[5].pk), str(alerts[65].pk)]


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"), ("monitorId=123", "monitorId"),
     ("state=closed", "state"), ("offset=-2", "offset"), ("since=yesterday", "since"),
     ("until=2026-11-23T00:00:00", "until"),
     # empty values are no values; offsets PostgreSQL's timestamptz cannot take; a year out of range in UTC
     ("until=", "until"), ("monitorId=", "monitorId"), ("state=", "state"), ("limit=", "limit"),
     ("since=0001-01-01T00:00:00%2B01:00", "since"),
     ("offset=9223372036854775808", "offset"), ("limit=%C2%B2", "limit"), ("offset=%D9%A3", "offset")],
)
def test_alerts_reject_bad_parameters(api, acme_key, query, field):
    body = assert_envelope(api.get(f"/api/alerts?{query}", key=acme_key), 400)
    assert field in body["details"]


def test_an_offset_past_what_postgresql_takes_is_read_in_utc(api, acme_key):
    # +17:11 is a valid ISO 8601 offset; timestamptz takes offsets up to 15:59 only.
    response = api.get("/api/alerts?until=0602-09-04T04:16:41.6%2B17:11", key=acme_key)
    assert response.status_code == 200, response.content


def test_alerts_of_an_unknown_monitor_are_404(api, acme_key):
    assert_envelope(api.get("/api/alerts?monitorId=00000000-0000-0000-0000-000000000000", key=acme_key), 404)


def test_alerts_list_query_count_is_bounded(api, acme, acme_key, django_assert_max_num_queries):
    monitor = make_monitor(acme)
    for minutes in range(40):
        make_alert(acme, monitor, minutes_ago=minutes, state=AlertState.RESOLVED)
    with django_assert_max_num_queries(4):  # key lookup + touch + monitor + alerts
        assert len(api.get(f"/api/alerts?monitorId={monitor.pk}", key=acme_key).json()) == 40


def test_acknowledge_stores_note_who_and_when(api, acme, acme_key):
    alert = make_alert(acme, make_monitor(acme))
    before = timezone.now()
    response = api.post(f"/api/alerts/{alert.pk}/acknowledge",
                        {"note": "Investigating — known deployment in progress"}, key=acme_key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "acknowledged" and body["note"] == "Investigating — known deployment in progress"
    assert body["acknowledgedBy"].startswith("api-key:") and "acme-ci" in body["acknowledgedBy"]
    alert.refresh_from_db()
    assert alert.acknowledged_at >= before and alert.state == AlertState.ACKNOWLEDGED
    assert alert.note == "Investigating — known deployment in progress"


def test_acknowledging_twice_keeps_the_first_time_and_updates_the_note(api, acme, acme_key):
    alert = make_alert(acme, make_monitor(acme))
    first = api.post(f"/api/alerts/{alert.pk}/acknowledge", {"note": "looking"}, key=acme_key).json()
    second = api.post(f"/api/alerts/{alert.pk}/acknowledge", {"note": "rolled back"}, key=acme_key).json()
    assert second["acknowledgedAt"] == first["acknowledgedAt"]
    assert second["acknowledgedBy"] == first["acknowledgedBy"]
    assert second["note"] == "rolled back"


def test_acknowledge_without_a_note_is_fine(api, acme, acme_key):
    alert = make_alert(acme, make_monitor(acme))
    response = api.post(f"/api/alerts/{alert.pk}/acknowledge", key=acme_key)
    assert response.status_code == 200 and response.json()["note"] == ""


def test_acknowledging_a_resolved_alert_is_409(api, acme, acme_key):
    alert = make_alert(acme, make_monitor(acme), state=AlertState.RESOLVED)
    assert_envelope(api.post(f"/api/alerts/{alert.pk}/acknowledge", {"note": "late"}, key=acme_key), 409, "conflict")
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.note == ""


def test_acknowledge_validates_its_body(api, acme, acme_key):
    alert = make_alert(acme, make_monitor(acme))
    body = assert_envelope(api.post(f"/api/alerts/{alert.pk}/acknowledge", {"note": "x", "by": "me"}, key=acme_key), 400)
    assert set(body["details"]) == {"by"}
    body = assert_envelope(api.post(f"/api/alerts/{alert.pk}/acknowledge", {"note": "x" * 2001}, key=acme_key), 400)
    assert "note" in body["details"]


@pytest.mark.parametrize("bad_id", ["x", "00000000-0000-0000-0000-000000000000"])
def test_acknowledging_an_unknown_alert_is_404(api, acme_key, bad_id):
    assert_envelope(api.post(f"/api/alerts/{bad_id}/acknowledge", {"note": "?"}, key=acme_key), 404)
