"""Every write to monitors: create, change, delete, pin a baseline run.

A monitor owns its TestDefinition (the script and tool): both are created in
one transaction and deleted together. The schedule lives on the row; these
services keep ``next_run_at`` right (the next fire time while enabled, None
while disabled), so the scheduler tick picks up every change at its next
pass. License rules are enforced here, for every caller: the monitor limit
and an expired license refuse new monitors (LicenseLimitReached, 403), and a
schedule more frequent than the tier allows is a Conflict (409).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone as djtz

from perfmon.core.errors import Conflict, LicenseLimitReached, ValidationFailed
from perfmon.definitions.models import TestDefinition, TestStatus
from perfmon.definitions.services import create_test, update_test
from perfmon.fleet.selectors import known_locations
from perfmon.monitors import schedule as cron
from perfmon.monitors.models import DEFAULT_APDEX_T_MS, Monitor
from perfmon.monitors.selectors import monitor_count
from perfmon.tenants.models import Tenant
from perfmon.tenants.services import effective_license
from runners.errors import InvalidSettings
from runners.validation import clean_thresholds

MAX_APDEX_T_MS = 600_000
# The alert rules (perfmon/alerts/rules.py), which operators set in the admin.
ALERT_RULE_FIELDS = frozenset(
    {"alert_after_failures", "maintenance_cron", "maintenance_minutes", "maintenance_start", "maintenance_end"}
)
# Fields update_monitor changes on the monitor row and on its test definition.
MONITOR_FIELDS = frozenset(
    {"name", "schedule", "timezone", "enabled", "thresholds", "parameters", "apdex_t_ms", "agent", "location"}
) | ALERT_RULE_FIELDS
TEST_FIELDS = frozenset({"name", "tool", "script", "script_filename", "parameters", "distribution"})
UPDATABLE = MONITOR_FIELDS | TEST_FIELDS


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details={field: [message]})


def _clean_schedule(expression: str, tz_name: str) -> str:
    try:
        expression = cron.validate(expression)
    except cron.InvalidSchedule as exc:
        raise _fail("schedule", str(exc)) from None
    try:
        cron.zone(tz_name)
    except cron.InvalidSchedule as exc:
        raise _fail("timezone", str(exc)) from None
    return expression


def _clean_thresholds(thresholds) -> dict:
    # runners' rules, the ones the run is judged by: nothing stored here can fail a judgement later.
    try:
        return clean_thresholds(thresholds)
    except InvalidSettings as exc:
        raise ValidationFailed.of(exc.details()) from None


def _clean_apdex_t(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_APDEX_T_MS:
        raise _fail("apdex_t_ms", f"Apdex T is a whole number of milliseconds from 1 to {MAX_APDEX_T_MS}.")
    return value


def _clean_alert_rules(changes: dict, current: Monitor) -> None:
    """Check the alert-rule fields among ``changes`` (in place): the rules read them on every run."""
    for name in ("alert_after_failures", "maintenance_minutes"):
        if name in changes:
            value, low = changes[name], 1 if name == "alert_after_failures" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise _fail(name, f"A whole number of at least {low} is required.")
    if "maintenance_cron" in changes:
        expression = (changes["maintenance_cron"] or "").strip()
        if expression:
            try:
                expression = cron.validate(expression)
            except cron.InvalidSchedule as exc:
                raise _fail("maintenance_cron", str(exc)) from None
        changes["maintenance_cron"] = expression
    start = changes.get("maintenance_start", current.maintenance_start)
    end = changes.get("maintenance_end", current.maintenance_end)
    if start is not None and end is not None and end <= start:
        raise _fail("maintenance_end", "The maintenance window must end after it starts.")


def check_distribution_targets(tenant, distribution, *, agent=None) -> None:
    """Refuse a split that names a location no agent of the tenant has, or goes with a pinned agent."""
    if not distribution:
        return
    if agent is not None:
        raise _fail("distribution", "A run pinned to one agent cannot be split; remove agentId or distribution.")
    unknown = sorted(set(distribution.get("locations") or {}) - known_locations(tenant))
    if unknown:
        raise _fail("distribution", f"No agent has the location {', '.join(repr(name) for name in unknown)}.")


def _clean_agent(tenant, agent):
    # The caller resolved the agent through the tenant's scope; a foreign one is a bug or an attack.
    if agent is not None and agent.tenant_id not in (None, tenant.pk):
        raise _fail("agent", f"agent '{agent.pk}' does not exist")
    return agent


def min_interval_for(tier: str) -> timedelta:
    """The shortest schedule interval the license tier allows (PERFMON_TIER_MIN_INTERVAL_MINUTES)."""
    minutes = settings.PERFMON_TIER_MIN_INTERVAL_MINUTES.get(tier, 1)
    return timedelta(minutes=minutes)


def _check_interval(tenant, expression: str, tz_name: str) -> None:
    tier = effective_license(tenant).tier
    allowed = min_interval_for(tier)
    if allowed <= timedelta(minutes=1):
        return  # cron cannot fire more often than every minute
    shortest = cron.min_interval(expression, tz_name, djtz.now())
    if shortest < allowed:
        raise Conflict(
            f"'{expression}' runs every {_minutes(shortest)}; the {tier} tier allows at most one run "
            f"every {_minutes(allowed)}",
            details={"schedule": [f"Runs more often than the {tier} tier allows (every {_minutes(allowed)})."]},
        )


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def _check_license_allows_new_monitor(tenant) -> None:
    license_ = effective_license(tenant)
    if license_.expired:
        raise LicenseLimitReached(
            f"the {license_.tier} license expired on {license_.valid_until:%Y-%m-%d}; "
            "install a renewed license to add monitors"
        )
    used = monitor_count(tenant)
    if used >= license_.monitor_limit:
        raise LicenseLimitReached(
            f"the {license_.tier} license allows {license_.monitor_limit} monitors and {used} exist",
            details={"monitorLimit": [str(license_.monitor_limit)], "monitorsUsed": [str(used)]},
        )


def _next_run_at(monitor: Monitor):
    if not monitor.enabled:
        return None
    return cron.next_run(monitor.schedule, monitor.timezone, djtz.now())


def create_monitor(
    *,
    tenant,
    name: str,
    tool: str,
    script: str,
    schedule: str,
    timezone: str = "UTC",
    enabled: bool = True,
    thresholds: dict | None = None,
    parameters: dict | None = None,
    apdex_t_ms: int = DEFAULT_APDEX_T_MS,
    agent=None,
    location: str = "",
    script_filename: str = "",
    distribution: dict | None = None,
) -> Monitor:
    """A new monitor of ``tenant`` with its own test definition, both in one transaction.

    Raises ValidationFailed for invalid input (schedule, time zone,
    thresholds, tool, script, ...), LicenseLimitReached when the license's
    monitor limit is reached or the license has expired, and Conflict when
    the schedule is more frequent than the license tier allows.
    """
    schedule = _clean_schedule(schedule, timezone)
    thresholds = _clean_thresholds(thresholds)
    apdex_t_ms = _clean_apdex_t(apdex_t_ms)
    agent = _clean_agent(tenant, agent)
    with transaction.atomic():
        # Serialises concurrent creates of one tenant, so the limit cannot be overrun by a race.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        _check_license_allows_new_monitor(tenant)
        _check_interval(tenant, schedule, timezone)
        test = create_test(
            tenant=tenant,
            name=name,
            tool=tool,
            script=script,
            status=TestStatus.ACTIVE,
            script_filename=script_filename,
            parameters=parameters or {},
            distribution=distribution,
        )
        check_distribution_targets(tenant, test.distribution, agent=agent)
        monitor = Monitor(
            tenant=tenant,
            name=test.name,
            test=test,
            schedule=schedule,
            timezone=timezone,
            enabled=enabled,
            thresholds=thresholds,
            apdex_t_ms=apdex_t_ms,
            parameters=test.parameters,
            agent=agent,
            location=(location or "").strip(),
        )
        monitor.next_run_at = _next_run_at(monitor)
        monitor.save(force_insert=True)
    return monitor


def update_monitor(*, tenant, monitor: Monitor, **changes) -> Monitor:
    """Change any subset of a monitor's fields (``UPDATABLE``), its test definition's included.

    ``thresholds`` and ``parameters`` replace the whole object. ``next_run_at``
    is recomputed when the schedule, time zone or enabled state changes.
    Raises ValidationFailed for unknown fields or invalid values, and
    Conflict when the schedule becomes more frequent than the tier allows.
    """
    if monitor.tenant_id != tenant.pk:
        raise ValueError("the monitor belongs to another tenant")
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ValidationFailed(
            f"unknown field: {unknown[0]}", details={name: ["Unknown field."] for name in unknown}
        )
    if not changes:
        return monitor  # nothing asked, nothing written: updated_at stays as it was
    with transaction.atomic():
        # Locked, so a scheduler tick claiming this monitor sees the change whole or not at all.
        current = (
            Monitor.objects.for_tenant(tenant).select_for_update(of=("self",)).select_related("test")
            .get(pk=monitor.pk)
        )
        schedule = changes.get("schedule", current.schedule)
        tz_name = changes.get("timezone", current.timezone)
        timing_changed = "schedule" in changes or "timezone" in changes
        enabling = changes.get("enabled") is True and not current.enabled
        if timing_changed or enabling:
            # Enabling computes next_run_at from the stored schedule, so it must still be a usable one.
            schedule = _clean_schedule(schedule, tz_name)
        if "thresholds" in changes:
            changes["thresholds"] = _clean_thresholds(changes["thresholds"])
        if "apdex_t_ms" in changes:
            changes["apdex_t_ms"] = _clean_apdex_t(changes["apdex_t_ms"])
        if "agent" in changes:
            changes["agent"] = _clean_agent(tenant, changes["agent"])
        if "location" in changes:
            changes["location"] = (changes["location"] or "").strip()
        _clean_alert_rules(changes, current)
        if timing_changed or enabling:
            _check_interval(tenant, schedule, tz_name)

        test_changes = {key: value for key, value in changes.items() if key in TEST_FIELDS}
        if test_changes:
            update_test(tenant=tenant, test=current.test, **test_changes)
        if {"distribution", "agent"} & set(changes):
            check_distribution_targets(tenant, current.test.distribution, agent=changes.get("agent", current.agent))
        for key in MONITOR_FIELDS & set(changes):
            value = changes[key]
            if key == "schedule":
                value = schedule
            elif key in ("name", "parameters"):
                value = getattr(current.test, key)  # as the test definition cleaned it
            setattr(current, key, value)
        if timing_changed or "enabled" in changes:
            current.next_run_at = _next_run_at(current)
        current.save()
    return current


def delete_monitor(*, tenant, monitor: Monitor) -> None:
    """Delete a monitor, its test definition and its alerts.

    Its runs stay in the history (their ``monitor`` and ``test`` become
    NULL); a run still queued or running is left to finish.
    """
    if monitor.tenant_id != tenant.pk:
        raise ValueError("the monitor belongs to another tenant")
    with transaction.atomic():
        Monitor.objects.for_tenant(tenant).filter(pk=monitor.pk).delete()
        # The definition is PROTECTed while its monitor exists, so it goes second.
        TestDefinition.objects.for_tenant(tenant).filter(pk=monitor.test_id).delete()
