"""End to end: one k6 run split over two real ``perfmon-agent`` processes.

The live control plane places one part per agent, both agents prepare and
report ready, start at the common moment and run k6 with their execution
segments against a local target; the run's figures are the exact merge of
the parts. The raw samples come from each part's own ``--out json`` file
(hard-linked while k6 writes it, since the agent removes the work dir), so
the merged percentiles are checked against every request either part made,
and the start skew is measured where it matters: at the target. A part whose
agent is killed mid-run is lost, the other part stopped, and what both measured kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

from perfmon.definitions.models import TestDefinition
from perfmon.fleet.models import Agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import PartStatus, Run, RunLogChunk, RunPart, RunStatus, SeriesPoint
from runners.histogram import LatencyHistogram, nearest_rank
from tests.agents.e2e import AgentProcess, LiveControlPlane, wait_for
from tests.agents.test_agent_e2e import (  # noqa: F401 - agents, log_dir, plane and tenant are fixtures
    ME,
    agents,
    log_dir,
    plane,
    reload,
    reported_counts,
    tenant,
    wait_final,
)
from tests.factories import make_monitor
from tests.runners.conftest import require_tool
from tests.runners.target import Target

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

VUS = 4
SLOW_S, FAST_S = 0.045, 0.005

# Odd VU ids (of the whole test, not of the part) take the slow path, even ones the fast path.
SPLIT_SCRIPT = """
import http from 'k6/http';
import exec from 'k6/execution';
export const options = {
  scenarios: { split: { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION } },
};
export default function () {
  const vu = exec.vu.idInTest;
  http.get(`${__ENV.TARGET}/split/${vu % 2 === 1 ? 'slow' : 'fast'}?vu=${vu}`);
}
"""


@dataclass(frozen=True)
class Arrival:
    at: float
    path: str
    vu: int


class SplitTarget(Target):
    """The test target plus ``/split/slow`` (~45 ms) and ``/split/fast`` (~5 ms), each request's
    arrival recorded with the VU id it names (served requests are counted by Target)."""

    DELAYS = {"/split/slow": SLOW_S, "/split/fast": FAST_S}

    def __init__(self):
        super().__init__()
        self._arrivals: list[Arrival] = []

    def decide(self, path, query):
        if path in self.DELAYS:
            with self._lock:
                self._arrivals.append(Arrival(time.time(), path, int(query.get("vu", ["0"])[0])))
            return 200, self.DELAYS[path]
        return super().decide(path, query)

    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)


@pytest.fixture
def split_target():
    with SplitTarget() as server:
        yield server


class KeptOutputs:
    """Keeps every part's k6 JSON output: hard-links ``k6-output.json`` out of the agents' work
    dirs while k6 writes it, so the file outlives the work dir the agent removes at the end."""

    def __init__(self, agents_: list[AgentProcess], dest: Path):
        self.roots = [Path(agent.config.work_root) for agent in agents_]
        self.dest = dest
        self.kept: dict[str, Path] = {}  # the first 8 characters of the part's id -> the kept file
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> KeptOutputs:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for root in self.roots:
                for output in root.glob("run-*/k6-output.json"):
                    key = output.parent.name[len("run-"):][:8]
                    if key not in self.kept:
                        with contextlib.suppress(FileNotFoundError):
                            os.link(output, self.dest / f"{key}.json")
                            self.kept[key] = self.dest / f"{key}.json"
            time.sleep(0.05)

    def samples(self, part: RunPart) -> list[dict]:
        """The part's http_req_duration Points (their ``data``), in the order k6 wrote them."""
        path = self.kept.get(str(part.pk)[:8])
        assert path is not None, f"part {part.index}'s k6 output was never seen in its work dir"
        points = []
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            if obj.get("type") == "Point" and obj.get("metric") == "http_req_duration":
                points.append(obj["data"])
        return points


def vu_of(sample: dict) -> int:
    return int(parse_qs(urlsplit(sample["tags"]["url"]).query)["vu"][0])


def dispatch_split(tenant, *, script: str, parameters: dict, distribution: dict,  # noqa: F811
                   thresholds=None) -> Run:
    """A k6 run of a new (disabled) monitor split by ``distribution``, requested as a user would."""
    from perfmon.runs.services import request_run

    monitor = make_monitor(tenant, tool="k6", enabled=False, parameters=parameters,
                           thresholds=thresholds or {})
    TestDefinition.all_tenants.filter(pk=monitor.test_id).update(script=script)
    monitor = Monitor.all_tenants.get(pk=monitor.pk)
    return request_run(tenant=tenant, monitor=monitor, distribution=distribution)


def wait_split_final(run: Run, timeout: float, agents_: list[AgentProcess]) -> Run:
    try:
        return wait_final(run, timeout, agents_[0])
    except AssertionError as exc:
        others = "\n".join(f"agent {a.agent_id} log:\n{a.output()[-3000:]}" for a in agents_[1:])
        raise AssertionError(f"{exc}\n{others}") from None


def two_agents(agents, plane, tenant) -> list[AgentProcess]:  # noqa: F811
    """Two running agents on this machine: the tenant's own and a shared one. One host name
    is registered once per tenant, so two agents of one machine cannot both be the tenant's;
    placement takes the tenant's agents first, then the shared ones."""
    return [agents(plane, tenant, run_as_user=ME).start(), agents(plane, None, run_as_user=ME).start()]


def parts_of(run: Run) -> list[RunPart]:
    return list(RunPart.all_tenants.filter(run_id=run.pk).order_by("index"))


def exact_percentile(values: list[float], q: float) -> float:
    return sorted(values)[nearest_rank(q, len(values)) - 1]


def within_precision(reported: float, exact: float) -> bool:
    """The histogram reports the highest value equivalent to the sample at that rank: never
    below it, at most 0.1 % (3 significant digits) plus 1 us above it (runners/histogram.py)."""
    return exact - 0.0011 <= reported <= exact * 1.001 + 0.0011


def test_a_k6_run_split_over_two_agents_merges_exactly_and_starts_together(
        plane, tenant, agents, split_target, tmp_path):  # noqa: F811
    require_tool("k6")
    pair = two_agents(agents, plane, tenant)
    t0 = time.monotonic()
    run = dispatch_split(tenant, script=SPLIT_SCRIPT, distribution={"agents": 2},
                         parameters={"TARGET": split_target.base_url, "DURATION": "4s", "VUS": str(VUS)},
                         thresholds={"latencyMs": 2000, "errorRatePercent": 1})
    assert run.status == RunStatus.QUEUED, run.error
    with KeptOutputs(pair, tmp_path) as kept:
        run = wait_split_final(run, 120, pair)
    elapsed = time.monotonic() - t0
    assert run.status == RunStatus.PASS, (run.error, [a.output()[-2000:] for a in pair])

    parts = parts_of(run)
    assert [p.status for p in parts] == [PartStatus.COMPLETED] * 2
    assert {p.agent_id for p in parts} == {a.agent_id for a in pair}, "one part on each agent"
    assert run.metrics["parts"] == 2 and not run.metrics.get("partial")

    # Counts: the merge adds the parts, and they add up to what the target served.
    served = split_target.counts()
    assert set(served) <= {("/split/slow", 200), ("/split/fast", 200)}, served
    assert run.metrics["count"] == sum(p.metrics["count"] for p in parts) == sum(served.values())
    assert run.metrics["errors"] == 0

    # Each part ran exactly its execution segment of the VUs: together 1..N, no VU twice.
    samples = {p.index: kept.samples(p) for p in parts}
    vus = {index: {vu_of(s) for s in points} for index, points in samples.items()}
    assert set().union(*vus.values()) == set(range(1, VUS + 1)), vus
    assert not vus[0] & vus[1], f"a VU ran in both parts: {vus}"
    assert sorted(len(v) for v in vus.values()) == [VUS // 2, VUS // 2], vus
    for part in parts:
        assert part.metrics["count"] == len(samples[part.index]), "the part reported every sample it made"

    # Every part's series points and log chunks arrived exactly once and in order, under its index,
    # and the run's series holds every request of both parts (its numbering: the last test).
    from perfmon.runs import series

    by_agent = {agent.agent_id: agent for agent in pair}
    for part in parts:
        series_count, chunk_count = reported_counts(by_agent[part.agent_id], part)
        stored = list(SeriesPoint.all_tenants.filter(run_id=run.pk, part=part.index).order_by("seq"))
        assert [p.seq for p in stored] == list(range(series_count))
        assert sum(p.count for p in stored) == part.metrics["count"]
        chunks = list(RunLogChunk.all_tenants.filter(run_id=run.pk, part=part.index).order_by("seq")
                      .values_list("seq", "text"))
        assert [seq for seq, _ in chunks] == list(range(chunk_count))
        assert chunks[0][1].startswith(f"[perfmon-agent] part {part.index + 1} of 2 "), chunks[0][1][:200]
    merged_series = series.points(tenant, run)
    assert sum(p.count for p in merged_series) == run.metrics["count"]
    assert merged_series[0].start.timestamp() == min(
        p.start.timestamp() for p in SeriesPoint.all_tenants.filter(run_id=run.pk))

    # Percentiles: the merged ones are those of all raw samples of both parts, not an average.
    raw = [float(s["value"]) for points in samples.values() for s in points]
    assert len(raw) == run.metrics["count"]
    pooled = LatencyHistogram()
    for value in raw:
        pooled.record(value)
    part_p95 = [p.metrics["p95_ms"] for p in parts]
    lines = []
    for q in (95, 99):
        merged, exact = run.metrics[f"p{q}_ms"], exact_percentile(raw, q)
        assert within_precision(merged, exact), f"merged p{q} {merged} vs raw {exact}"
        assert merged == pytest.approx(min(max(pooled.percentile(q), min(raw)), max(raw)), abs=1e-9)
        lines.append(f"p{q}: merged {merged:.3f} ms, raw {exact:.3f} ms, "
                     f"parts {[round(p.metrics[f'p{q}_ms'], 3) for p in parts]}")
    for part in parts:
        own = [float(s["value"]) for s in samples[part.index]]
        assert within_precision(part.metrics["p95_ms"], exact_percentile(own, 95))
    average = mean(part_p95)
    assert abs(run.metrics["p95_ms"] - average) > 5, f"merged p95 {run.metrics['p95_ms']} ~ mean {average}"

    # Start skew: both parts got one common start; their first requests reached the target together.
    starts = {p.started_at for p in parts}
    started_spread = (max(starts) - min(starts)).total_seconds()
    assert len(starts) == 1 and run.started_at == parts[0].started_at
    common = parts[0].started_at.timestamp()
    arrivals = split_target.arrivals()
    first = {index: min(a.at for a in arrivals if a.vu in vus[index]) for index in vus}
    skew = max(first.values()) - min(first.values())
    print(f"\nsplit e2e: {run.metrics['count']} requests ({dict(served)}); " + "; ".join(lines)
          + f"; mean of parts' p95 {average:.3f} ms")
    lags = ", ".join(f"part {i} +{(t - common) * 1000:.1f} ms" for i, t in sorted(first.items()))
    print(f"split e2e: start skew at the target {skew * 1000:.1f} ms; first requests {lags} after the "
          f"common start; parts' started_at spread {started_spread * 1000:.0f} ms; "
          f"test {elapsed:.1f}s from request to verdict")
    assert skew < 1.5, f"the parts' first requests were {skew:.3f}s apart"
    assert all(-0.05 < t - common < 5 for t in first.values()), "no part started before the common start"
    for agent in pair:
        wait_for(lambda agent=agent: not list(Path(agent.config.work_root).iterdir()), 30,
                 f"agent {agent.agent_id} to remove its work dir")


def test_a_split_run_that_cannot_place_every_part_ends_error_and_starts_nothing(
        plane, tenant, agents, split_target):  # noqa: F811
    online = agents(plane, tenant, run_as_user=ME).start()
    agents(plane, None, run_as_user=ME)  # a shared agent, enrolled but not running: not online
    run = dispatch_split(tenant, script=SPLIT_SCRIPT, distribution={"agents": 2},
                         parameters={"TARGET": split_target.base_url, "DURATION": "4s", "VUS": str(VUS)})
    assert run.status == RunStatus.ERROR
    assert "the split needs 2 online agent(s) with k6" in run.error and "only 1" in run.error, run.error
    assert parts_of(run) == [], "nothing is reserved when some part finds no agent"
    time.sleep(3)  # a few heartbeats: nothing reaches the online agent
    run = reload(run)
    assert run.status == RunStatus.ERROR and run.started_at is None and run.claimed_at is None
    assert f"run {run.pk}" not in online.output() and "claim" not in online.output()
    assert split_target.arrivals() == []
    assert not list(Path(online.config.work_root).iterdir()), "the agent prepared nothing"


def test_cancelling_a_split_run_stops_both_agents_tools(plane, tenant, agents, split_target):  # noqa: F811
    from perfmon.runs.services import cancel_run

    require_tool("k6")
    pair = two_agents(agents, plane, tenant)
    run = dispatch_split(tenant, script=SPLIT_SCRIPT, distribution={"agents": 2},
                         parameters={"TARGET": split_target.base_url, "DURATION": "60s", "VUS": str(VUS)})
    assert run.status == RunStatus.QUEUED, run.error

    def both_loading():
        paths = [a.path for a in split_target.arrivals()]
        return paths.count("/split/slow") > 10 and paths.count("/split/fast") > 10

    wait_for(both_loading, 90, "both parts to send load", interval=0.2)
    t0 = time.monotonic()
    cancel_run(tenant=tenant, run_id=run.pk, actor="alice")
    run = wait_split_final(run, 60, pair)
    elapsed = time.monotonic() - t0
    assert run.status == RunStatus.CANCELLED, (run.status, run.error)
    parts = parts_of(run)
    assert [p.status for p in parts] == [PartStatus.CANCELLED] * 2, [(p.status, p.error) for p in parts]
    arrived = len(split_target.arrivals())
    time.sleep(1.5)
    assert len(split_target.arrivals()) == arrived, "both tools stopped sending load"
    assert run.metrics["count"] == sum(p.metrics["count"] for p in parts) > 0, "what they measured is kept"
    print(f"\nsplit e2e: cancellation ended the run and both parts in {elapsed:.1f}s")
    assert elapsed < 30, f"cancellation took {elapsed:.1f}s"


@pytest.mark.django_db
def test_a_split_runs_series_has_one_point_per_interval_whatever_edges_the_parts_joined(tenant):  # noqa: F811
    """The shape the e2e run stores: 1 s points on the epoch grid, each part's last sliver joined into
    a 2 s point, one part ending a second later. The run's series must number the grid's intervals once
    each, in order, without two points covering the same time."""
    from datetime import UTC, datetime

    from perfmon.runs import series

    test = TestDefinition.all_tenants.create(tenant=tenant, name="split", tool="k6", script="x",
                                             status="active")
    run = Run.all_tenants.create(tenant=tenant, test=test, tool="k6", script="x", distribution={"agents": 2})
    origin = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    shapes = {  # part: (offset from the first interval, interval_s) of each stored point
        0: [(0, 1.0), (1, 1.0), (2, 1.0), (3, 2.0)],
        1: [(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 2.0)],
    }
    for index, points in shapes.items():
        RunPart.all_tenants.create(run=run, index=index, share="1/2", status=PartStatus.COMPLETED)
        for seq, (offset, interval) in enumerate(points):
            hist = LatencyHistogram()
            hist.record(10.0, 10)
            SeriesPoint.all_tenants.create(
                run=run, part=index, seq=seq, start=datetime.fromtimestamp(origin + offset, tz=UTC),
                interval_s=interval, covered_s=interval, count=10, errors=0, p50_ms=10.0, p95_ms=10.0,
                p99_ms=10.0, throughput_rps=10 / interval, histogram=hist.encode())
    merged = series.points(tenant, run)
    assert sum(p.count for p in merged) == 90
    seqs = [p.seq for p in merged]
    assert seqs == sorted(set(seqs)), seqs
    spans = [(p.start.timestamp(), p.start.timestamp() + p.interval_s) for p in merged]
    assert all(end <= later for (_, end), (later, _) in zip(spans, spans[1:], strict=False)), spans


# The killed agent's part is lost this long after its last heartbeat (agents beat every 1 s).
OFFLINE_AFTER_S, LOST_GRACE_S = 4, 3


@pytest.fixture(scope="module")
def lost_plane(django_db_setup, log_dir):  # noqa: F811
    """A control plane that counts an agent offline 4 s after its last heartbeat, and lost 3 s later."""
    server = LiveControlPlane(log_dir, PERFMON_AGENT_OFFLINE_AFTER=str(OFFLINE_AFTER_S),
                              PERFMON_AGENT_LOST_GRACE=str(LOST_GRACE_S)).start()
    yield server
    server.stop()


def kill_host(agent: AgentProcess) -> list[int]:
    """SIGKILL the agent's process group and its tools' (each tool runs in its own session), as when
    the host dies; returns the killed pids."""
    root = psutil.Process(agent.process.proc.pid)
    tree = [root, *root.children(recursive=True)]
    assert any(proc.name() == "k6" for proc in tree[1:]), "the agent's k6 is among its children"
    groups = [root.pid]  # the agent's first: it must not see its tool die and report
    for proc in tree[1:]:
        with contextlib.suppress(ProcessLookupError):
            groups.append(os.getpgid(proc.pid))
    for group in dict.fromkeys(groups):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    agent.process.stop(sig=signal.SIGKILL)  # reaps it and closes its log
    agent.process = None
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, f"still alive after SIGKILL: {alive}"
    return [proc.pid for proc in tree]


def redeliver(part: RunPart) -> None:
    """Put the part's message on its agent's queue again, as the broker does with an unacked one."""
    from django.conf import settings

    from perfmon.celery import app
    from runners.protocol import EXECUTE_RUN, RunAssignment, agent_queue

    assignment = RunAssignment(run_id=str(part.pk), agent_id=part.agent_id, tool="k6",
                               time_limit_s=settings.PERFMON_RUN_TIME_LIMIT)
    app.send_task(EXECUTE_RUN, args=[assignment.to_dict()], queue=agent_queue(part.agent_id))


def test_a_split_part_whose_agent_is_killed_is_lost_and_the_other_part_stopped(
        lost_plane, tenant, agents, split_target, settings):  # noqa: F811
    """SIGKILL one agent (and its k6) mid-run: the sweeper marks its part lost and ends the run error,
    the other agent stops its k6, and the merged figures keep what both parts measured, marked partial.
    The restarted agent's late report and the redelivered message change nothing."""
    from perfmon.runs.sweeper import sweep

    require_tool("k6")
    # The sweeper runs in this process: it judges liveness by the same timeouts as the plane.
    settings.PERFMON_AGENT_OFFLINE_AFTER = OFFLINE_AFTER_S
    settings.PERFMON_AGENT_LOST_GRACE = LOST_GRACE_S
    pair = two_agents(agents, lost_plane, tenant)
    run = dispatch_split(tenant, script=SPLIT_SCRIPT, distribution={"agents": 2},
                         parameters={"TARGET": split_target.base_url, "DURATION": "40s", "VUS": str(VUS)})
    assert run.status == RunStatus.QUEUED, run.error
    t0 = time.monotonic()
    victim, survivor = pair
    parts = {p.agent_id: p for p in parts_of(run)}
    lost_part, other_part = parts[victim.agent_id], parts[survivor.agent_id]

    def both_streaming():
        fresh = parts_of(run)
        points = [SeriesPoint.all_tenants.filter(run_id=run.pk, part=p.index).count() for p in fresh]
        return all(p.status == PartStatus.RUNNING for p in fresh) and min(points) >= 2

    try:
        wait_for(both_streaming, 90, "both parts to run and stream 2 series points", interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(a.output()[-2000:] for a in pair)) from None
    vus_before = {a.vu for a in split_target.arrivals()}
    assert vus_before == set(range(1, VUS + 1)), vus_before

    killed_at = time.time()
    killed = kill_host(victim)
    dead_at = time.time()  # from here on, nothing of the killed agent runs
    assert sweep().agent_lost == 0, "an agent that beat a moment ago is not lost"
    assert reload(run).status == RunStatus.RUNNING

    def swept_lost():
        sweep()
        fresh = reload(run)
        assert fresh.status != RunStatus.PASS
        return RunPart.all_tenants.get(pk=lost_part.pk).status == PartStatus.LOST

    wait_for(swept_lost, 60, f"the sweeper to mark part {lost_part.index} lost", interval=0.5)
    lost_after = time.time() - killed_at
    last_beat = Agent.all_tenants.get(pk=victim.agent_id).last_heartbeat_at.timestamp()
    silent = time.time() - last_beat
    assert silent >= OFFLINE_AFTER_S + LOST_GRACE_S, f"lost only {silent:.1f}s after its last heartbeat"
    run = reload(run)
    assert run.status == RunStatus.ERROR, (run.status, run.error)
    assert run.error.startswith(f"agent '{victim.agent_id}' lost: "), run.error
    lost_part = RunPart.all_tenants.get(pk=lost_part.pk)
    assert lost_part.error == run.error and lost_part.completed_at is not None

    # The survivor learns from its heartbeat that the run ended and stops its k6.
    def other_final():
        part = RunPart.all_tenants.get(pk=other_part.pk)
        return part if part.is_final else None

    try:
        other_part = wait_for(other_final, 60, f"part {other_part.index} on the surviving agent to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nsurvivor log:\n{survivor.output()[-3000:]}") from None
    stopped_after = time.time() - killed_at
    assert other_part.status == PartStatus.CANCELLED, (other_part.status, other_part.error)
    stopping = RunLogChunk.all_tenants.filter(run_id=run.pk, part=other_part.index,
                                              text__contains="[perfmon-agent] stopping k6: cancelled")
    assert stopping.exists(), "the survivor's log says why its k6 stopped"
    arrived = len(split_target.arrivals())
    time.sleep(1.5)
    assert len(split_target.arrivals()) == arrived, "the surviving k6 stopped sending load"
    late = [a.vu for a in split_target.arrivals() if a.at > dead_at]
    assert late and len(set(late)) == VUS // 2, f"only the survivor's VUs ran after the kill: {set(late)}"

    # The merged figures: the survivor's report plus what the lost part streamed before it died.
    def merged():
        fresh = reload(run)
        return fresh if (fresh.metrics or {}).get("count") is not None else None

    run = wait_for(merged, 30, "the merged figures")
    lost_series = list(SeriesPoint.all_tenants.filter(run_id=run.pk, part=lost_part.index).order_by("seq"))
    streamed = sum(p.count for p in lost_series)
    assert run.status == RunStatus.ERROR and run.metrics["partial"] is True and run.metrics["parts"] == 2
    assert run.metrics["count"] == other_part.metrics["count"] + streamed, (run.metrics, streamed)
    assert other_part.metrics["count"] > 0 and streamed > 0
    assert run.metrics["count"] <= sum(split_target.counts().values())
    series_count, chunk_count = reported_counts(survivor, other_part)
    assert SeriesPoint.all_tenants.filter(run_id=run.pk, part=other_part.index).count() == series_count
    assert RunLogChunk.all_tenants.filter(run_id=run.pk, part=other_part.index).count() == chunk_count

    # What the lost part streamed stays: series points and log chunks, each numbered from 0 without a gap.
    assert [p.seq for p in lost_series] == list(range(len(lost_series))) and len(lost_series) >= 2
    chunks = list(RunLogChunk.all_tenants.filter(run_id=run.pk, part=lost_part.index).order_by("seq")
                  .values_list("seq", "text"))
    assert [seq for seq, _ in chunks] == list(range(len(chunks))) and chunks
    assert chunks[0][1].startswith(f"[perfmon-agent] part {lost_part.index + 1} of 2 "), chunks[0][1][:200]
    kept = (run.status, run.error, run.metrics, len(lost_series), len(chunks))

    # Restarted, the agent reports the part it was running as lost and sends what its spool held:
    # all refused. The message delivered again is refused at the claim, and no load is sent.
    first_life = victim.output()
    victim.start()
    spool = Path(victim.config.spool_dir)
    wait_for(lambda: "left running by an earlier agent process" in victim.output(), 30,
             "the restarted agent to report the part it left")
    wait_for(lambda: not list(spool.glob("*.json")), 30, "the restarted agent to send its spool")
    arrived = len(split_target.arrivals())
    redeliver(lost_part)
    wait_for(lambda: f"run {lost_part.pk} is not ours to run" in victim.output(), 30,
             "the restarted agent to refuse the redelivered part")
    time.sleep(1.0)
    assert len(split_target.arrivals()) == arrived, "the redelivered part sent no load"
    run = reload(run)
    lost_part = RunPart.all_tenants.get(pk=lost_part.pk)
    assert lost_part.status == PartStatus.LOST and not lost_part.metrics, (lost_part.status, lost_part.metrics)
    assert (run.status, run.error, run.metrics,
            SeriesPoint.all_tenants.filter(run_id=run.pk, part=lost_part.index).count(),
            RunLogChunk.all_tenants.filter(run_id=run.pk, part=lost_part.index).count()) == kept
    assert f"run {lost_part.pk} (k6) ended" not in first_life + victim.output()
    wait_for(lambda: not list(Path(victim.config.work_root).iterdir()), 30, "the left work dir to be removed")
    print(f"\nsplit e2e: killed {len(killed)} processes, the last heartbeat {killed_at - last_beat:.1f}s "
          f"before; part lost {lost_after:.1f}s after the kill (offline {OFFLINE_AFTER_S}s + grace "
          f"{LOST_GRACE_S}s), survivor stopped {stopped_after:.1f}s after; "
          f"merged {run.metrics['count']} = {other_part.metrics['count']} reported + {streamed} streamed "
          f"({len(lost_series)} points); test {time.monotonic() - t0:.1f}s")
