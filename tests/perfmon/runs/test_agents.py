"""What runs need of agents: the runs a heartbeat tells the agent to stop, and its run counts."""

import uuid
from datetime import timedelta

from django.utils import timezone

from perfmon.runs.agents import run_counts, runs_to_stop
from perfmon.runs.ingest import claim_run
from perfmon.runs.models import Run, RunStatus
from perfmon.runs.services import cancel_run, request_run
from perfmon.runs.sweeper import sweep
from tests.factories import make_agent, make_monitor


def test_the_heartbeat_answer_lists_cancelled_and_already_final_runs_only(acme, settings):
    agent = make_agent("acme-1", tenant=acme, capacity=5)
    other = make_agent("acme-2", tenant=acme, location="elsewhere", capacity=5)
    cancelled, calm, expired, elsewhere = (
        request_run(tenant=acme, monitor=make_monitor(acme, agent=a)) for a in (agent, agent, agent, other)
    )
    for run in (cancelled, calm, expired):
        claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
    claim_run(agent=other, run_id=elsewhere.pk, claim_id=uuid.uuid4())
    cancel_run(tenant=acme, run_id=cancelled.pk)  # claimed: marked, the agent must stop it
    cancel_run(tenant=acme, run_id=elsewhere.pk)
    # Long past its time limit: the sweeper ends it while the agent still thinks it runs it.
    Run.all_tenants.filter(pk=expired.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=3 * settings.PERFMON_RUN_TIME_LIMIT))
    assert sweep().expired == 1
    running = [str(run.pk) for run in (cancelled, calm, expired)]
    assert sorted(runs_to_stop(agent, running)) == sorted([str(cancelled.pk), str(expired.pk)])
    assert runs_to_stop(agent, []) == [str(cancelled.pk)]  # asked to cancel, whatever the agent lists
    assert Run.all_tenants.get(pk=expired.pk).status == RunStatus.ERROR


def test_run_counts_are_the_tenants_runs_of_the_agent_by_status(acme, globex):
    shared = make_agent("shared-1", capacity=10)
    for tenant in (acme, acme, globex):
        request_run(tenant=tenant, monitor=make_monitor(tenant))
    errored = request_run(tenant=acme, monitor=make_monitor(acme, location="nowhere"))  # no agent there
    assert errored.status == RunStatus.ERROR and errored.agent_id is None
    since = timezone.now() - timedelta(hours=1)
    assert run_counts(acme, shared, since=since) == {"queued": 2}
    assert run_counts(globex, shared, since=since) == {"queued": 1}
    assert run_counts(acme, shared, since=timezone.now() + timedelta(seconds=1)) == {}
