"""The spool and its sender: order, durability across a killed process, the bound,
retries of temporary failures and drops of permanent ones."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.client import ControlPlane
from agents.reporter import Reporter
from agents.spool import Spool, SpoolLocked
from tests.agents.plane import Plane

RUN = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"


@pytest.fixture
def plane():
    server = Plane().start()
    yield server
    server.stop()


def reporter_for(plane, spool, **kwargs):
    kwargs.setdefault("initial_backoff_s", 0.05)
    kwargs.setdefault("max_backoff_s", 0.2)
    return Reporter(ControlPlane(plane.url, "pma_test_secret", timeout=5), spool, **kwargs)


def spool_posts(reporter, n, run=RUN):
    for i in range(n):
        reporter.logs(run, [{"seq": i, "text": f"line {i}\n"}])


def test_posts_are_sent_in_order_with_the_result_last(tmp_path, plane):
    spool = Spool(tmp_path / "spool")
    reporter = reporter_for(plane, spool)
    for i in range(5):
        reporter.series(RUN, [{"seq": i}])
        reporter.logs(RUN, [{"seq": i, "text": f"{i}\n"}])
    reporter.result(RUN, {"outcome": "completed"})
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    kinds = [path.rsplit("/", 1)[1] for path, _ in plane.posts()]
    assert kinds == ["series", "logs", "result"]  # what was spooled together goes in one post per kind
    assert [p["seq"] for _, b in plane.posts("series") for p in b["points"]] == list(range(5))
    assert [c["seq"] for _, b in plane.posts("logs") for c in b["chunks"]] == list(range(5))
    assert all(auth == "Bearer pma_test_secret" for _, _, auth in plane.received)
    assert list((tmp_path / "spool").glob("*.json")) == []


def test_backlog_after_an_outage_is_merged_per_run_without_reordering(tmp_path, plane):
    plane.status = 503
    spool = Spool(tmp_path / "spool")
    reporter = reporter_for(plane, spool)
    reporter.start()
    spool_posts(reporter, 4)
    reporter.series(RUN, [{"seq": 0}])
    spool_posts(reporter, 2, run=OTHER)
    reporter.result(RUN, {"outcome": "completed"})
    time.sleep(0.5)
    assert plane.posts() == [] and len(spool) == 8
    plane.status = 200
    assert reporter.wait_idle(10)
    reporter.stop()
    sent = [(path.split("/")[4], path.rsplit("/", 1)[1], body) for path, body in plane.posts()]
    assert [(run, kind) for run, kind, _ in sent] == [(RUN, "logs"), (RUN, "series"), (OTHER, "logs"), (RUN, "result")]
    assert [c["seq"] for c in sent[0][2]["chunks"]] == [0, 1, 2, 3]


def test_temporary_failures_are_retried_and_permanent_ones_dropped(tmp_path, plane):
    spool = Spool(tmp_path / "spool")
    reporter = reporter_for(plane, spool)
    for status in (429, 502):
        plane.status = status
        reporter.result(RUN, {"outcome": "completed", "status": status})
        reporter.start() if reporter._thread is None else None
        deadline = time.monotonic() + 5
        while plane.attempts.count(f"/agent-api/v1/runs/{RUN}/result") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(spool) == 1, f"a {status} must keep the post for a retry"
        plane.status = 200
        assert reporter.wait_idle(5)
    plane.status = 400
    reporter.logs(RUN, [{"seq": 0, "text": "x"}])
    assert reporter.wait_idle(5), "a 400 can never succeed: the post is dropped"
    assert reporter.refused == 1
    plane.status = 200
    reporter.stop()
    assert [body["status"] for _, body in plane.posts("result")] == [429, 502]


def test_a_killed_agent_process_leaves_its_spool_and_the_next_one_sends_it_in_order(tmp_path, plane):
    directory = tmp_path / "spool"
    child = f"""
import sys, time
from agents.spool import Spool
spool = Spool({str(directory)!r})
for i in range(20):
    spool.append(path="/runs/{RUN}/logs", run_id="{RUN}", kind="logs", body={{"chunks": [{{"seq": i, "text": str(i)}}]}})
spool.append(path="/runs/{RUN}/result", run_id="{RUN}", kind="result", body={{"outcome": "completed"}}, essential=True)
print("spooled", flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
    assert proc.stdout.readline().strip() == b"spooled"
    with pytest.raises(SpoolLocked, match=f"pid {proc.pid}"):
        Spool(directory)  # the running agent holds it
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    spool = Spool(directory)  # the restarted agent
    assert len(spool) == 21
    reporter = reporter_for(plane, spool)
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    chunks = [c["seq"] for _, body in plane.posts("logs") for c in body["chunks"]]
    assert chunks == list(range(20))
    assert plane.posts()[-1][0].endswith("/result")


def test_unfinished_writes_are_ignored_and_damaged_posts_set_aside(tmp_path, plane):
    directory = tmp_path / "spool"
    spool = Spool(directory)
    spool.append(path=f"/runs/{RUN}/logs", run_id=RUN, kind="logs", body={"chunks": [{"seq": 0, "text": "a"}]})
    spool.append(path=f"/runs/{RUN}/logs", run_id=RUN, kind="logs", body={"chunks": [{"seq": 1, "text": "b"}]})
    spool.close()
    (directory / ".tmp-7").write_text('{"half": ')  # a crash mid-write
    first = sorted(directory.glob("*.json"))[0]
    first.write_text("not json")  # disk damage
    spool = Spool(directory)
    assert len(spool) == 2 and not (directory / ".tmp-7").exists()
    reporter = reporter_for(plane, spool)
    reporter.start()
    assert reporter.wait_idle(5)
    reporter.stop()
    assert [c["seq"] for _, body in plane.posts("logs") for c in body["chunks"]] == [1]
    assert (directory / "damaged" / first.name).read_text() == "not json"


def test_the_bound_refuses_series_and_logs_but_never_a_result(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=2000)
    reporter = Reporter(ControlPlane("http://127.0.0.1:9"), spool)
    accepted = [reporter.logs(RUN, [{"seq": i, "text": "x" * 300}]) for i in range(10)]
    assert accepted[:4] == [True] * 4 and accepted[-1] is False
    assert spool.bytes <= 2000 and spool.dropped == accepted.count(False)
    reporter.result(RUN, {"outcome": "completed", "pad": "y" * 5000})
    assert spool.bytes > 2000
    assert json.loads(sorted((tmp_path / "spool").glob("*.json"))[-1].read_text())["kind"] == "result"


def test_spool_files_are_private(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append(path="/heartbeat", run_id=RUN, kind="logs", body={})
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700
    for item in (tmp_path / "spool").glob("*.json"):
        assert item.stat().st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "spool" / "lock").st_mode & 0o777 == 0o600


def test_cancel_in_a_stream_answer_reaches_the_run(tmp_path, plane):
    cancelled = []
    plane.cancel.add(RUN)
    spool = Spool(tmp_path / "spool")
    reporter = reporter_for(plane, spool, on_cancel=cancelled.append)
    reporter.start()
    reporter.series(RUN, [{"seq": 0}])
    reporter.series(OTHER, [{"seq": 0}])
    assert reporter.wait_idle(5)
    reporter.stop()
    assert cancelled == [RUN]


def test_runs_left_running_by_a_dead_agent_are_reported_at_the_next_start(tmp_path, plane):
    from agents.config import AgentConfig
    from agents.state import AgentState
    from agents.worker import recover

    config = AgentConfig(server_url=plane.url, agent_id="eu-1", credential="c", broker_url="memory://",
                         queue="agent.eu-1", work_root=str(tmp_path / "work"), spool_dir=str(tmp_path / "spool"))
    work_dir = tmp_path / "work" / "run-11111111-x"
    work_dir.mkdir(parents=True)
    spool = Spool(tmp_path / "spool")
    state = AgentState(config.running_dir)
    claim = "7d5c1e1a-0d1b-4f3e-9a61-3c9b2f0e8d41"
    handle = state.begin(RUN, claim_id=claim, tool="k6")
    handle.series_count, handle.log_chunk_count = 3, 7
    state.write_marker(handle, work_dir=str(work_dir))  # the work dir made; then the agent was killed
    spool.close()

    spool = Spool(tmp_path / "spool")
    state = AgentState(config.running_dir)
    reporter = reporter_for(plane, spool)
    assert recover(config, state, reporter) == 1
    reporter.start()
    assert reporter.wait_idle(5)
    reporter.stop()
    (path, body), = plane.posts("result")
    assert path.endswith(f"/runs/{RUN}/result")
    assert body["outcome"] == "agent_error" and "stopped unexpectedly" in body["error"]
    assert (body["series_count"], body["log_chunk_count"]) == (3, 7)
    # fenced by the claim it ran under, which the marker kept when it was rewritten with the work dir
    assert body["claim_id"] == claim
    assert not work_dir.exists() and state.leftover_markers() == []


def test_a_tool_left_running_by_a_dead_agent_is_stopped_at_the_next_start(tmp_path, plane):
    import subprocess

    import psutil

    from agents.config import AgentConfig
    from agents.state import AgentState
    from agents.worker import recover

    config = AgentConfig(server_url=plane.url, agent_id="eu-1", credential="c", broker_url="memory://",
                         queue="agent.eu-1", work_root=str(tmp_path / "work"), spool_dir=str(tmp_path / "spool"))
    # Tools run in their own session: killing the agent alone leaves them sending load.
    tool = subprocess.Popen(["sleep", "120"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        state = AgentState(config.running_dir)
        for run_id, process, started in ((RUN, tool, psutil.Process(tool.pid).create_time()),
                                         (OTHER, stranger, 1.0)):  # a pid reused since: not ours to kill
            handle = state.begin(run_id, claim_id="c1")
            handle.tool_pgid, handle.tool_started = process.pid, started
            state.write_marker(handle, work_dir="")
        spool = Spool(tmp_path / "spool")
        reporter = reporter_for(plane, spool)

        assert recover(config, AgentState(config.running_dir), reporter) == 2

        assert tool.wait(timeout=30) == -9
        assert stranger.poll() is None
        spool.close()
    finally:
        for process in (tool, stranger):
            process.kill()
            process.wait(timeout=30)
