"""Small factories for domain rows (rather than deep fixture chains)."""

from __future__ import annotations

import itertools

from django.utils import timezone

from perfmon.definitions.models import TestDefinition
from perfmon.fleet.models import Agent
from perfmon.monitors.models import Monitor
from perfmon.monitors.schedule import next_run

_names = itertools.count(1)


def make_agent(agent_id: str, *, tenant=None, location="local", tools=("k6",), capacity=1, drained=False,
               online=True) -> Agent:
    return Agent.all_tenants.create(
        id=agent_id, tenant=tenant, location=location, tools=dict.fromkeys(tools, "1.0"),
        capacity=capacity, drained=drained, last_heartbeat_at=timezone.now() if online else None,
    )


def make_test(tenant, *, tool="k6", script="export default function () {}", name=None) -> TestDefinition:
    return TestDefinition.all_tenants.create(
        tenant=tenant, name=name or f"test {next(_names)}", tool=tool, script=script, status="active",
    )


def make_monitor(tenant, *, name=None, tool="k6", schedule="* * * * *", tz="UTC", enabled=True,
                 next_run_at=None, **fields) -> Monitor:
    test = make_test(tenant, tool=tool)
    if next_run_at is None and enabled:
        next_run_at = next_run(schedule, tz, timezone.now())
    return Monitor.all_tenants.create(
        tenant=tenant, name=name or f"monitor {next(_names)}", test=test, schedule=schedule, timezone=tz,
        enabled=enabled, next_run_at=next_run_at, **fields,
    )
