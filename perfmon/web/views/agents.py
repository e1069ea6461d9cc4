"""Agents: status, location, tools, host metrics and the runs they are running for this tenant."""

from __future__ import annotations

from django.shortcuts import render

from perfmon.fleet.selectors import agent_visible_to, recent_samples
from perfmon.web import queries
from perfmon.web.tenancy import tenant_view

SAMPLES_SHOWN = 360  # host metric samples on an agent's charts (30 minutes at one per 5 s)


@tenant_view()
def agent_list(request, viewer):
    return render(request, "web/agent_list.html", {"agents": queries.agents_with_runs(viewer.tenant)})


@tenant_view()
def agent_detail(request, viewer, agent_id):
    agent = agent_visible_to(viewer.tenant, agent_id)
    samples = [
        {"t": s.recorded_at.timestamp(), "cpu": s.cpu_percent, "mem": s.memory_percent, "load1": s.load1,
         "runs": s.running_runs}
        for s in reversed(list(recent_samples(viewer.tenant, agent, limit=SAMPLES_SHOWN)))
    ]
    running = queries.active_runs_by_agent(viewer.tenant, [agent.pk]).get(agent.pk, [])
    return render(request, "web/agent_detail.html", {"agent": agent, "samples": samples, "running": running})
