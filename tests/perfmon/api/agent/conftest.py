"""The agent API's clients and fixtures: an agent enrolled over HTTP and a run queued for it."""

import pytest

from perfmon.fleet.services import create_agent
from perfmon.runs.services import request_run
from tests.factories import make_monitor

BASE = "/agent-api/v1"


class AgentClient:
    def __init__(self, client, credential=None):
        self.client, self.credential = client, credential

    def post(self, path, data):
        headers = {"Authorization": f"Bearer {self.credential}"} if self.credential else {}
        return self.client.post(f"{BASE}{path}", data=data, content_type="application/json", headers=headers)


@pytest.fixture
def enrolled(client, acme):
    """Agent acme-1 enrolled over HTTP, heartbeating, with k6; returns its client."""
    token = create_agent(agent_id="acme-1", location="eu", tenant=acme).enrollment_token
    response = AgentClient(client).post("/enroll", {"token": token, "tools": {"k6": "1.1.0"}, "capacity": 2})
    assert response.status_code == 201, response.content
    agent = AgentClient(client, response.json()["credential"])
    assert agent.post("/heartbeat", {"tools": {"k6": "1.1.0"}}).status_code == 200
    return agent


@pytest.fixture
def queued_run(acme, enrolled):
    monitor = make_monitor(acme, thresholds={"latencyMs": 100, "errorRatePercent": 10})
    run = request_run(tenant=acme, monitor=monitor)
    assert run.agent_id == "acme-1"
    return run
