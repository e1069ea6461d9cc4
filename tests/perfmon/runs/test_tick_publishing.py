"""Pipelined publishing delivers every message, in the format the agent reads, and the fast insert
stores runs as the model would."""

import uuid

from django.utils import timezone

from perfmon.runs.bulk import PreparedRows
from perfmon.runs.models import Run, RunStatus, RunTrigger
from perfmon.runs.publishing import BATCH_COMMANDS, PublishBuffer, publish_assignments
from perfmon.runs.services import assignment
from runners.protocol import RunAssignment, agent_queue
from tests.broker import purge, take_assignments
from tests.factories import make_monitor


def test_pipelined_publish_delivers_every_message_to_its_agent_queue():
    purge(agent_queue("pipe-1"), agent_queue("pipe-2"))
    count = BATCH_COMMANDS + 7  # more than one pipeline round trip
    sent = [assignment(uuid.uuid4(), f"pipe-{1 + i % 2}", "k6") for i in range(count)]
    assert publish_assignments(sent) == count
    received = take_assignments(agent_queue("pipe-1"), limit=count) + take_assignments(
        agent_queue("pipe-2"), limit=count)
    assert sorted(a["run_id"] for a in received) == sorted(a.run_id for a in sent)
    assert {RunAssignment.from_dict(a).agent_id for a in received} == {"pipe-1", "pipe-2"}
    for payload in received:
        assert agent_queue(payload["agent_id"]) in ("agent.pipe-1", "agent.pipe-2")


def test_a_discarded_buffer_sends_nothing():
    purge(agent_queue("pipe-3"))
    with PublishBuffer(hold=True) as buffer:
        buffer.add(assignment(uuid.uuid4(), "pipe-3", "k6"))
    assert take_assignments(agent_queue("pipe-3"), wait=0.5) == []


def test_fast_insert_stores_runs_as_the_model_does(acme):
    monitor = make_monitor(acme)
    now = timezone.now()
    run = Run(tenant=acme, monitor=monitor, test=monitor.test, tool="k6", script="s", trigger=RunTrigger.SCHEDULE,
              parameters={"vus": 2, "nested": {"a": [1, None]}}, thresholds={"latencyMs": 5}, scheduled_for=now,
              distribution=None)
    PreparedRows([run]).insert(now)
    stored = Run.objects.for_tenant(acme).get(pk=run.pk)
    assert (stored.status, stored.parameters, stored.thresholds, stored.distribution) == (
        RunStatus.QUEUED, {"vus": 2, "nested": {"a": [1, None]}}, {"latencyMs": 5}, None)
    assert (stored.metrics, stored.requests, stored.created_at, stored.scheduled_for) == ({}, [], now, now)
