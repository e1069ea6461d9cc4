"""A real agent SIGKILLed in the middle of a 60 s k6 run, then started again.

A live control plane (gunicorn) and a real ``perfmon-agent run`` process run k6
against the local target. Once series points and log chunks are stored, the
agent's process group is SIGKILLed (its k6 runs in a session of its own and is
left behind, as when the OOM killer takes the agent alone). The sweeper, run
here every ``SWEEP_INTERVAL_S`` as beat would, ends the run ``error`` ("agent
lost") once the agent has been silent for the heartbeat timeout plus the grace
period: the documented bound is OFFLINE_AFTER + LOST_GRACE + SWEEP_INTERVAL
seconds after the last heartbeat (docs/scheduling.md). What was stored before
the kill is kept and is the run's figures, marked partial; the run is never
reported passed.

The agent is then started again with the same id and credential. It stops the
k6 its dead process left (the run's marker), reports the run it was running,
and sends what its spool held: the report is refused (409 ``stale_claim``) and
dropped, the late series and logs are not stored. The run's message, never
acked by the killed worker (acks_late), is delivered again (here put back on
the queue at once, as the broker does once its visibility timeout passes): the
claim is refused, so no second load is sent, and the run stays ``error`` with
its one claim.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest

from perfmon.fleet.models import Agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import RunLogChunk, RunStatus, SeriesPoint
from perfmon.runs.sweeper import sweep
from tests.agents.e2e import LiveControlPlane, wait_for
from tests.agents.test_agent_e2e import K6_SCRIPT, ME, dispatch, reload
from tests.agents.test_split_e2e import redeliver
from tests.runners.conftest import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

# Short but in proportion to the defaults (heartbeat 5 s, offline after 30 s, grace 60 s, sweep every 30 s):
# the live plane's agents beat every 1 s (tests/agents/e2e.py).
OFFLINE_AFTER_S, LOST_GRACE_S, SWEEP_INTERVAL_S = 4, 3, 1
BOUND_S = OFFLINE_AFTER_S + LOST_GRACE_S + SWEEP_INTERVAL_S
RUN_S = 60
WINDOW_S = 1.0  # responses still in flight when the restarted agent is ready


@pytest.fixture(scope="module")
def lost_plane(django_db_setup, log_dir):
    server = LiveControlPlane(log_dir, PERFMON_AGENT_OFFLINE_AFTER=str(OFFLINE_AFTER_S),
                              PERFMON_AGENT_LOST_GRACE=str(LOST_GRACE_S),
                              PERFMON_SWEEP_INTERVAL=str(SWEEP_INTERVAL_S)).start()
    yield server
    server.stop()


def stored(run) -> tuple[list[int], list[int]]:
    """The seqs of the run's stored series points and log chunks, in order."""
    series = list(SeriesPoint.all_tenants.filter(run_id=run.pk).order_by("seq").values_list("seq", flat=True))
    chunks = list(RunLogChunk.all_tenants.filter(run_id=run.pk).order_by("seq").values_list("seq", flat=True))
    return series, chunks


def test_an_agent_killed_mid_run_is_lost_keeps_what_it_streamed_and_sends_no_second_load(
        lost_plane, tenant, agents, target, settings):
    require_tool("k6")
    # The sweeper runs in this process: it judges liveness by the same settings as the plane.
    settings.PERFMON_AGENT_OFFLINE_AFTER = OFFLINE_AFTER_S
    settings.PERFMON_AGENT_LOST_GRACE = LOST_GRACE_S
    t0 = time.monotonic()
    agent = agents(lost_plane, tenant, run_as_user=ME).start()
    run = dispatch(tenant, agent, tool="k6", script=K6_SCRIPT,
                   parameters={"TARGET": target.base_url, "DURATION": f"{RUN_S}s"},
                   thresholds={"latencyMs": 2000, "errorRatePercent": 50})

    def streaming():
        series, chunks = stored(run)
        return len(series) >= 3 and chunks

    try:
        wait_for(streaming, 90, "the run to store 3 series points and a log chunk", interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nagent log:\n{agent.output()[-3000:]}") from None
    running = reload(run)
    assert running.status == RunStatus.RUNNING and running.claim_id is not None
    tools = [p for p in psutil.Process(agent.process.proc.pid).children(recursive=True) if p.name() == "k6"]
    assert tools, "the agent's k6 runs"

    # SIGKILL the agent (its process group: not its k6, which has a session of its own).
    process = agent.process
    killed_at = time.time()
    process.stop(sig=signal.SIGKILL)
    first_life = process.output()
    agent.process = None
    at_kill = stored(run)
    orphan_alive = any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tools)

    assert sweep().agent_lost == 0, "an agent that beat a moment ago is not lost"

    def swept():
        sweep()
        fresh = reload(run)
        assert fresh.status != RunStatus.PASS, "a lost run is never reported passed"
        return fresh if fresh.is_final else None

    lost = wait_for(swept, 4 * BOUND_S + 30, "the sweeper to end the killed agent's run", interval=SWEEP_INTERVAL_S)
    last_beat = Agent.all_tenants.get(pk=agent.agent_id).last_heartbeat_at.timestamp()
    kill_to_error = lost.completed_at.timestamp() - killed_at
    silent = lost.completed_at.timestamp() - last_beat
    assert lost.status == RunStatus.ERROR and lost.error.startswith("agent lost: "), (lost.status, lost.error)
    assert silent >= OFFLINE_AFTER_S + LOST_GRACE_S, f"lost only {silent:.1f}s after its last heartbeat"
    assert lost.reported_at is None and lost.breaches == []
    assert Monitor.all_tenants.get(pk=run.monitor_id).last_status == RunStatus.ERROR

    # What was stored before the kill is kept, numbered from 0 without a gap, and is the run's figures: partial.
    series, chunks = stored(run)
    assert series[:len(at_kill[0])] == at_kill[0] and chunks[:len(at_kill[1])] == at_kill[1]
    assert series == list(range(len(series))) and chunks == list(range(len(chunks)))
    points = list(SeriesPoint.all_tenants.filter(run_id=run.pk))
    streamed = sum(p.count for p in points)
    assert lost.metrics["partial"] is True and lost.metrics["count"] == streamed > 0, lost.metrics
    assert lost.metrics["errors"] == sum(p.errors for p in points) and lost.histogram
    first_chunk = RunLogChunk.all_tenants.get(run_id=run.pk, seq=0).text
    assert first_chunk.startswith(f"[perfmon-agent] agent {agent.agent_id} starts k6"), first_chunk[:200]
    kept = (lost.status, lost.error, lost.metrics, lost.histogram, lost.completed_at, lost.reported_at,
            lost.claim_id, lost.claimed_at, series, chunks)

    # Started again, same id and credential: it stops the k6 left running, reports the run it left
    # (refused: the run ended lost) and sends its spool (not stored: the run is closed).
    restart_began = time.time()
    agent.start()
    ready_at = time.time()
    wait_for(lambda: "left running by an earlier agent process" in agent.output(), 30,
             "the restarted agent to report the run it left")
    wait_for(lambda: f"no longer takes the report of run {run.pk}" in agent.output(), 30,
             "the restarted agent to drop its refused report")
    assert "stale_claim" in agent.output()
    spool = Path(agent.config.spool_dir)
    wait_for(lambda: not list(spool.glob("*.json")), 30, "the restarted agent to send its spool")

    # The message delivered again: refused at the claim, nothing runs.
    redeliver(run)
    wait_for(lambda: f"run {run.pk} is not ours to run" in agent.output(), 30,
             "the restarted agent to refuse the redelivered run")
    time.sleep(2.0)
    served = target.served()
    late = [s for s in served if s.at > ready_at + WINDOW_S]
    assert not late, f"{len(late)} requests reached the target after the restarted agent was ready"
    orphaned = [s for s in served if killed_at < s.at <= restart_began]
    restarting = [s for s in served if restart_began < s.at <= ready_at + WINDOW_S]

    fresh = reload(run)
    assert (fresh.status, fresh.error, fresh.metrics, fresh.histogram, fresh.completed_at, fresh.reported_at,
            fresh.claim_id, fresh.claimed_at, *stored(run)) == kept
    second_life = agent.output()
    assert f"run {run.pk} (k6) ended" not in first_life + second_life, "the killed execution never reported"
    assert f"agent {agent.agent_id} starts k6" not in second_life, "the redelivered message started nothing"
    assert RunLogChunk.all_tenants.filter(run_id=run.pk, text__contains="starts k6").count() == 1
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tools), "the left k6 is stopped"
    print(f"\nagent killed: run error {kill_to_error:.1f}s after the kill (bound {BOUND_S}s after the last "
          f"heartbeat, which was {killed_at - last_beat:.1f}s before the kill; silent {silent:.1f}s); "
          f"kept {len(series)} series points ({streamed} requests, partial) and {len(chunks)} log chunks; "
          f"the k6 left behind ({'alive' if orphan_alive else 'gone'} just after the kill) served "
          f"{len(orphaned)} requests before the restart and {len(restarting)} during it, none later; "
          f"{len(served)} served in all; test {time.monotonic() - t0:.1f}s")
