"""create_monitor / update_monitor / delete_monitor: the one write path of monitors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.core.errors import Conflict, LicenseLimitReached, ValidationFailed
from perfmon.definitions import models as definitions
from perfmon.definitions.models import TestDefinition
from perfmon.monitors.models import Monitor
from perfmon.monitors.services import create_monitor, delete_monitor, min_interval_for, update_monitor
from tests.factories import make_agent

SCRIPT = "export default function () {}\n"


def new(tenant, **overrides):
    fields = {"name": "Checkout", "tool": "k6", "script": SCRIPT, "schedule": "*/10 * * * *"}
    fields.update(overrides)
    return create_monitor(tenant=tenant, **fields)


def test_create_makes_monitor_and_its_test_together(acme):
    monitor = new(acme, parameters={"A": "1"}, thresholds={"latencyMs": 500}, script_filename="c.js")
    test = TestDefinition.objects.for_tenant(acme).get()
    assert monitor.test_id == test.pk and test.status == definitions.TestStatus.ACTIVE
    assert (test.name, test.tool, test.script, test.script_filename) == ("Checkout", "k6", SCRIPT, "c.js")
    assert monitor.parameters == test.parameters == {"A": "1"}
    assert monitor.next_run_at > timezone.now() and monitor.next_run_at.minute % 10 == 0


def test_create_failing_late_leaves_nothing(acme):
    with pytest.raises(ValidationFailed) as caught:
        new(acme, tool="wrk")  # the test definition refuses it inside the transaction
    assert "tool" in caught.value.details
    assert not TestDefinition.objects.for_tenant(acme).exists() and not Monitor.objects.for_tenant(acme).exists()


@pytest.mark.parametrize(
    ("fields", "detail"),
    [({"schedule": "* * *"}, "schedule"), ({"timezone": "Atlantis/Capital"}, "timezone"),
     ({"thresholds": {"latencyMs": "slow"}}, "thresholds"), ({"thresholds": {"bogus": 1}}, "thresholds"),
     ({"apdex_t_ms": 0}, "apdex_t_ms"), ({"script": "  "}, "script"), ({"name": " "}, "name")],
)
def test_create_validates_for_every_caller(acme, fields, detail):
    with pytest.raises(ValidationFailed) as caught:
        new(acme, **fields)
    assert detail in caught.value.details


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"thresholds": {"latencyPercentile": 42}}, {"thresholds": {"latencyPercentile": ["Must be one of 50, 90, 95, 99."]}}),
        ({"thresholds": {"errorRatePercent": 500}},
         {"thresholds": {"errorRatePercent": ["Must be at least 0 and at most 100."]}}),
        ({"parameters": {"BAD NAME": "x"}},
         {"parameters": {"BAD NAME": ["A name is letters, digits and underscores, not starting with a digit."]}}),
        ({"parameters": {"TOKEN": "a\x00b"}}, {"parameters": {"TOKEN": ["Null characters are not allowed."]}}),
    ],
)
def test_create_refuses_what_a_run_could_not_use_and_stores_nothing(acme, fields, details):
    with pytest.raises(ValidationFailed) as caught:
        new(acme, **fields)
    assert caught.value.details == details
    field, per_key = next(iter(details.items()))
    key, messages = next(iter(per_key.items()))
    assert caught.value.message == f"{field}: {key}: {messages[0]}"
    assert not Monitor.objects.for_tenant(acme).exists() and not TestDefinition.objects.for_tenant(acme).exists()


@pytest.mark.parametrize(
    "change",
    [{"thresholds": {"latencyPercentile": 42}}, {"thresholds": {"errorRatePercent": 500}},
     {"parameters": {"BAD NAME": "x"}}, {"parameters": {"TOKEN": "a\x00b"}}],
)
def test_update_refuses_what_a_run_could_not_use_and_changes_nothing(acme, change):
    monitor = new(acme, thresholds={"latencyMs": 500}, parameters={"A": "1"})
    with pytest.raises(ValidationFailed) as caught:
        update_monitor(tenant=acme, monitor=monitor, **change)
    assert set(caught.value.details) == set(change)
    stored = Monitor.objects.for_tenant(acme).select_related("test").get()
    assert stored.thresholds == {"latencyMs": 500}
    assert stored.parameters == stored.test.parameters == {"A": "1"}


def test_stored_thresholds_and_parameters_are_the_cleaned_ones(acme):
    monitor = new(acme, thresholds={"latencyMs": 750.0, "latencyPercentile": 99.0, "apdexMin": None},
                  parameters={"USERS": 5, "DEBUG": False})
    stored = Monitor.objects.for_tenant(acme).select_related("test").get(pk=monitor.pk)
    assert stored.thresholds == {"latencyMs": 750, "latencyPercentile": 99}
    assert stored.parameters == stored.test.parameters == {"USERS": "5", "DEBUG": "false"}


def test_create_refuses_an_agent_of_another_tenant(acme, globex):
    with pytest.raises(ValidationFailed):
        new(acme, agent=make_agent("globex-1", tenant=globex))
    assert new(acme, agent=make_agent("shared", tenant=None)).agent_id == "shared"


def test_disabled_monitor_has_no_next_run_and_enabling_sets_it(acme):
    monitor = new(acme, enabled=False)
    assert monitor.next_run_at is None
    monitor = update_monitor(tenant=acme, monitor=monitor, enabled=True)
    assert monitor.next_run_at is not None
    monitor = update_monitor(tenant=acme, monitor=monitor, enabled=False)
    assert Monitor.objects.for_tenant(acme).get().next_run_at is None


def test_an_empty_change_writes_nothing(acme):
    monitor = new(acme)
    before = Monitor.objects.for_tenant(acme).get().updated_at
    assert update_monitor(tenant=acme, monitor=monitor).pk == monitor.pk
    assert Monitor.objects.for_tenant(acme).get().updated_at == before


def test_enabling_refuses_a_schedule_that_cannot_run(acme):
    monitor = new(acme, enabled=False)
    Monitor.objects.for_tenant(acme).update(schedule="61 * * * *")  # as an old row might hold
    with pytest.raises(ValidationFailed) as caught:
        update_monitor(tenant=acme, monitor=monitor, enabled=True)
    assert "schedule" in caught.value.details
    stored = Monitor.objects.for_tenant(acme).get()
    assert stored.enabled is False and stored.next_run_at is None


def test_alert_rules_are_checked(acme):
    monitor = new(acme)
    start = timezone.now()
    changed = update_monitor(tenant=acme, monitor=monitor, alert_after_failures=3, maintenance_cron=" 0  2 * * * ",
                             maintenance_minutes=30, maintenance_start=start, maintenance_end=start + timedelta(hours=1))
    assert (changed.alert_after_failures, changed.maintenance_cron, changed.maintenance_minutes) == (3, "0 2 * * *", 30)
    for bad, field in [({"alert_after_failures": 0}, "alert_after_failures"),
                       ({"maintenance_cron": "every night"}, "maintenance_cron"),
                       ({"maintenance_minutes": -1}, "maintenance_minutes"),
                       ({"maintenance_end": start - timedelta(minutes=1)}, "maintenance_end")]:
        with pytest.raises(ValidationFailed) as caught:
            update_monitor(tenant=acme, monitor=changed, **bad)
        assert field in caught.value.details
    assert Monitor.objects.for_tenant(acme).get().maintenance_end == start + timedelta(hours=1)


def test_schedule_and_timezone_changes_move_next_run(acme):
    monitor = new(acme, schedule="0 9 * * *")
    moved = update_monitor(tenant=acme, monitor=monitor, timezone="Asia/Tokyo")
    local = moved.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (9, 0)
    moved = update_monitor(tenant=acme, monitor=moved, schedule="30  12 * * *")
    assert moved.schedule == "30 12 * * *"  # normalised


def test_unrelated_changes_keep_next_run(acme):
    monitor = new(acme)
    before = monitor.next_run_at
    assert update_monitor(tenant=acme, monitor=monitor, name="Renamed").next_run_at == before


def test_update_keeps_test_and_monitor_parameters_equal(acme):
    monitor = new(acme, parameters={"OLD": "1"})
    monitor = update_monitor(tenant=acme, monitor=monitor, parameters={"NEW": "2"})
    assert monitor.parameters == monitor.test.parameters == {"NEW": "2"}
    assert TestDefinition.objects.for_tenant(acme).get().parameters == {"NEW": "2"}


def test_update_rejects_unknown_fields(acme):
    with pytest.raises(ValidationFailed) as caught:
        update_monitor(tenant=acme, monitor=new(acme), colour="red")
    assert caught.value.details == {"colour": ["Unknown field."]}


def test_delete_removes_both_rows(acme):
    monitor = new(acme)
    delete_monitor(tenant=acme, monitor=monitor)
    assert not Monitor.objects.for_tenant(acme).exists() and not TestDefinition.objects.for_tenant(acme).exists()


def test_services_refuse_another_tenants_monitor(acme, globex):
    monitor = new(acme)
    with pytest.raises(ValueError):
        update_monitor(tenant=globex, monitor=monitor, name="x")
    with pytest.raises(ValueError):
        delete_monitor(tenant=globex, monitor=monitor)
    assert Monitor.objects.for_tenant(acme).exists()


def test_monitor_limit_and_expiry(acme, settings):
    settings.PERFMON_COMMUNITY_MONITOR_LIMIT = 1
    new(acme)
    with pytest.raises(LicenseLimitReached):
        new(acme)
    from perfmon.tenants.models import License

    License.all_tenants.create(tenant=acme, license_id="l1", token="t", tier="professional", monitor_limit=5,
                               issued_at=timezone.now() - timedelta(days=30),
                               valid_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(LicenseLimitReached, match="expired"):
        new(acme)
    License.all_tenants.filter(tenant=acme).update(valid_until=timezone.now() + timedelta(days=1))
    assert new(acme).pk


def test_tier_minimum_interval(acme, settings):
    settings.PERFMON_TIER_MIN_INTERVAL_MINUTES = {"community": 10}
    assert min_interval_for("community") == timedelta(minutes=10)
    assert min_interval_for("unknown-tier") == timedelta(minutes=1)
    with pytest.raises(Conflict) as caught:
        new(acme, schedule="*/5 * * * *")
    assert "schedule" in caught.value.details
    monitor = new(acme, schedule="*/10 * * * *", enabled=False)
    with pytest.raises(Conflict):
        update_monitor(tenant=acme, monitor=monitor, schedule="0-30/3 * * * *")
    # Re-enabling checks the schedule against the tier again (the tier may have changed meanwhile).
    settings.PERFMON_TIER_MIN_INTERVAL_MINUTES = {"community": 30}
    with pytest.raises(Conflict):
        update_monitor(tenant=acme, monitor=monitor, enabled=True)
    assert not Monitor.objects.for_tenant(acme).get().enabled
