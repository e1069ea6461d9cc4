"""acknowledge_alert: note, who and when; the first acknowledgement's time is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertKind, AlertState
from perfmon.alerts.selectors import alert_for_tenant, alerts_for_tenant
from perfmon.alerts.services import acknowledge_alert
from perfmon.core.errors import Conflict, NotFound


def make_alert(tenant, *, state=AlertState.OPEN, minutes_ago=0):
    return Alert.all_tenants.create(tenant=tenant, kind=AlertKind.RUN_FAILED, state=state, title="slow",
                                    opened_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_acknowledge_records_note_actor_user_and_time(acme, alice):
    alert = make_alert(acme)
    done = acknowledge_alert(tenant=acme, alert=alert, note="looking", actor="user:alice", user=alice)
    stored = Alert.objects.for_tenant(acme).get()
    assert stored.state == AlertState.ACKNOWLEDGED and stored.note == "looking"
    assert stored.acknowledged_by == alice and stored.acknowledged_by_label == "user:alice"
    assert stored.acknowledged_at == done.acknowledged_at is not None


def test_second_acknowledgement_keeps_first_time_and_author(acme, alice, bob):
    alert = make_alert(acme)
    first = acknowledge_alert(tenant=acme, alert=alert, note="one", actor="user:alice", user=alice)
    second = acknowledge_alert(tenant=acme, alert=alert, note="two", actor="user:bob", user=bob)
    assert second.acknowledged_at == first.acknowledged_at
    assert (second.acknowledged_by, second.acknowledged_by_label, second.note) == (alice, "user:alice", "two")


def test_label_falls_back_to_the_username(acme, alice):
    assert acknowledge_alert(tenant=acme, alert=make_alert(acme), user=alice).acknowledged_by_label == "alice"


def test_resolved_alert_cannot_be_acknowledged(acme):
    alert = make_alert(acme, state=AlertState.RESOLVED)
    with pytest.raises(Conflict):
        acknowledge_alert(tenant=acme, alert=alert, note="late", actor="x")
    assert Alert.objects.for_tenant(acme).get().note == ""


def test_another_tenant_cannot_acknowledge(acme, globex):
    alert = make_alert(acme)
    with pytest.raises(ValueError):
        acknowledge_alert(tenant=globex, alert=alert, note="mine?")
    with pytest.raises(NotFound):
        alert_for_tenant(globex, alert.pk)


def test_selector_is_newest_first_and_scoped(acme, globex):
    old, new = make_alert(acme, minutes_ago=5), make_alert(acme)
    make_alert(globex)
    assert list(alerts_for_tenant(acme)) == [new, old]
    assert list(alerts_for_tenant(acme, state=AlertState.OPEN)) == [new, old]
