"""A heartbeat stores the agent's host facts and one sample of its metrics, and brings it online."""

from perfmon.fleet.heartbeats import record_heartbeat
from perfmon.fleet.models import Agent, AgentMetricSample
from tests.factories import make_agent

METRICS = {"cpu_percent": 12.5, "memory_percent": 40.1, "load1": 0.3, "disk_free_gb": 80.2}


def test_heartbeat_updates_the_reported_facts_and_keeps_the_rest(acme):
    make_agent("acme-1", tenant=acme, online=False, capacity=2)
    Agent.all_tenants.filter(pk="acme-1").update(hostname="old-host", os="linux")
    agent = Agent.all_tenants.get(pk="acme-1")
    assert agent.status == "offline"
    record_heartbeat(agent=agent, facts={"hostname": "new-host", "os": None, "capacity": 4}, metrics=METRICS,
                     running_runs=["r1", "r2"])
    agent.refresh_from_db()
    assert (agent.hostname, agent.os, agent.capacity) == ("new-host", "linux", 4)  # None reports nothing
    assert agent.last_metrics == METRICS and agent.status == "online"
    [sample] = AgentMetricSample.all_tenants.filter(agent=agent)
    assert (sample.running_runs, sample.cpu_percent, sample.disk_free_gb) == (2, 12.5, 80.2)
    assert sample.recorded_at == agent.last_heartbeat_at


def test_each_heartbeat_is_one_sample(acme):
    agent = make_agent("acme-1", tenant=acme)
    for load in (0.1, 0.2, 0.3):
        record_heartbeat(agent=agent, facts={}, metrics={**METRICS, "load1": load}, running_runs=[])
    loads = list(AgentMetricSample.all_tenants.filter(agent=agent).order_by("recorded_at").values_list("load1", flat=True))
    assert loads == [0.1, 0.2, 0.3]
