"""The spool on a real full filesystem and over files a crash cut short.

Disk full is a real tmpfs of a few hundred KiB mounted for the test (as root,
else with passwordless ``sudo -n``; without either the tests that need it are
skipped), filled to the last byte by a filler file. A crash in mid-write is a
real one too: a child process whose file size limit (RLIMIT_FSIZE, with
SIGXFSZ at its default action) kills it inside the write of a post.
"""

import io
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.client import ControlPlane
from agents.config import AgentConfig
from agents.doctor import Report, check_dirs
from agents.executor import AgentContext, execute_run
from agents.reporter import Reporter
from agents.spool import DAMAGED, RESERVE, Spool
from agents.state import AgentState
from agents.tools import RunAs, ToolCatalog
from runners.protocol import ClaimAnswer, Outcome, RunAssignment, RunReport
from tests.agents.plane import Plane

RUN = "44444444-4444-4444-4444-444444444444"
OTHER = "55555555-5555-5555-5555-555555555555"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def plane():
    server = Plane().start()
    yield server
    server.stop()


def _mount_commands(target: Path, size: str) -> tuple[list[str], list[str]]:
    """The mount and umount commands: directly as root, else through sudo -n."""
    options = f"size={size},mode=0700,uid={os.getuid()},gid={os.getgid()}"
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)]
    umount = ["umount", str(target)]
    if os.geteuid() == 0:
        return mount, umount
    return ["sudo", "-n", *mount], ["sudo", "-n", *umount]


@pytest.fixture
def small_fs(tmp_path):
    """A real tmpfs of 512 KiB at tmp_path/fs, unmounted at the end."""
    target = tmp_path / "fs"
    target.mkdir()
    mount, umount = _mount_commands(target, "512k")
    try:
        done = subprocess.run(mount, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:  # no mount (or sudo) at all
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root or passwordless sudo): {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(umount, capture_output=True, timeout=30, check=True)


def fill(fs: Path, name: str = "filler") -> Path:
    """Take every free byte of ``fs`` with one file; returns it (unlink it to free the space)."""
    filler = fs / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        block = bytes(64 * 1024)
        for _ in range(100_000):  # bounded: far more than any small filesystem takes
            try:
                if os.write(fd, block) == 0:
                    break
            except OSError:
                break
        else:
            raise AssertionError(f"{fs} never filled up")
    finally:
        os.close(fd)
    assert os.statvfs(fs).f_bavail == 0
    return filler


def reporter_for(plane, spool, **kwargs):
    kwargs.setdefault("initial_backoff_s", 0.05)
    kwargs.setdefault("max_backoff_s", 0.2)
    return Reporter(ControlPlane(plane.url, "pma_test_secret", timeout=5), spool, **kwargs)


def messages(caplog, text, level=logging.ERROR):
    return [r.getMessage() for r in caplog.records
            if r.name == "agents.spool" and r.levelno >= level and text in r.getMessage()]


def chunk_seqs(plane, run=RUN):
    return [c["seq"] for path, body in plane.posts("logs") if f"/runs/{run}/" in path for c in body["chunks"]]


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


# -- disk full -------------------------------------------------------------------------------

def test_a_full_disk_holds_posts_in_memory_logs_once_and_sends_everything_in_order(small_fs, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = small_fs / "spool"
    spool = Spool(directory, reserve_bytes=64 * 1024)
    assert (directory / RESERVE).stat().st_size == 64 * 1024
    plane.status = 503  # the control plane is away too: everything waits in the spool
    reporter = reporter_for(plane, spool)
    reporter.start()
    filler = fill(small_fs)

    for i in range(40):
        assert reporter.logs(RUN, [{"seq": i, "text": f"line {i} " + "x" * 2000}]) is True
        assert reporter.series(RUN, [{"seq": i}]) is True
    reporter.result(RUN, {"outcome": "completed", "log_chunk_count": 40})  # never raises

    assert len(messages(caplog, "is full")) == 1  # once for the episode, not once per post
    assert f"spool directory {directory} is full ([Errno 28]" in messages(caplog, "is full")[0]
    status = spool.status()
    assert status["full"] and spool.full and status["held_in_memory"] == 80 and status["dropped"] == 0
    assert len(spool) == 81
    # The result went to disk into the reserve's room; nothing half written is left behind.
    (result_file,) = spool_files(directory)
    assert json.loads(result_file.read_bytes())["kind"] == "result"
    assert not (directory / RESERVE).exists()
    assert [p.name for p in directory.iterdir() if p.name.startswith(".tmp-")] == []

    plane.status = 200  # sent from memory while the disk is still full
    assert reporter.wait_idle(20)
    assert chunk_seqs(plane) == list(range(40))
    assert [p["seq"] for _, body in plane.posts("series") for p in body["points"]] == list(range(40))
    assert [path.rsplit("/", 1)[1] for path, _ in plane.posts()][-1] == "result"
    assert len(plane.posts("result")) == 1
    assert spool.status()["held_in_memory"] == 0

    filler.unlink()  # space again: the next post ends the episode and the reserve is made again
    assert reporter.logs(OTHER, [{"seq": 0, "text": "after"}]) is True
    assert not spool.full
    assert len(messages(caplog, "has space again", logging.WARNING)) == 1
    assert (directory / RESERVE).stat().st_size == 64 * 1024
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane, OTHER) == [0]
    assert len(messages(caplog, "is full")) == 1


def test_posts_held_in_memory_go_to_disk_when_space_frees_and_survive_a_restart(small_fs, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = small_fs / "spool"
    spool = Spool(directory, reserve_bytes=32 * 1024)
    reporter = reporter_for(plane, spool)  # not started: the agent is stopped before it sends
    filler = fill(small_fs)
    for i in range(10):
        reporter.logs(RUN, [{"seq": i, "text": "y" * 1000}])
    assert spool.status()["held_in_memory"] == 10 and spool_files(directory) == []
    filler.unlink()
    spool.close()  # room again: what memory held is written, under its own sequence numbers
    assert len(spool_files(directory)) == 10
    assert messages(caplog, "has space again", logging.WARNING)

    spool = Spool(directory, reserve_bytes=32 * 1024)  # the next start
    reporter = reporter_for(plane, spool)
    reporter.result(RUN, {"outcome": "completed"})
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane) == list(range(10))
    assert plane.posts()[-1][0].endswith("/result")


def test_a_result_spooled_on_a_full_disk_survives_a_crash(small_fs, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = small_fs / "spool"
    spool = Spool(directory, reserve_bytes=32 * 1024)
    fill(small_fs)
    spool.append(path=f"/runs/{RUN}/logs", run_id=RUN, kind="logs", body={"chunks": [{"seq": 0, "text": "a"}]})
    spool.append(path=f"/runs/{RUN}/result", run_id=RUN, kind="result", body={"outcome": "completed"},
                 essential=True)
    assert len(spool_files(directory)) == 1  # the result, in the reserve's room
    fill(small_fs, "filler2")  # and what the result left of that room
    spool.close()  # the disk is still full: the log post held in memory is lost, and said to be
    assert messages(caplog, "1 posts held in memory are lost")

    spool = Spool(directory, reserve_bytes=32 * 1024)  # restarted over the same full disk
    assert len(spool) == 1
    reporter = reporter_for(plane, spool)
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    ((path, body),) = plane.posts()
    assert path.endswith(f"/runs/{RUN}/result") and body == {"outcome": "completed"}


def test_beyond_the_memory_limit_series_and_logs_are_dropped_but_results_kept(small_fs, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = small_fs / "spool"
    spool = Spool(directory, reserve_bytes=0, memory_max_bytes=20_000)  # no reserve: the result in memory too
    reporter = reporter_for(plane, spool)
    fill(small_fs)
    accepted = [reporter.logs(RUN, [{"seq": i, "text": "z" * 1000}]) for i in range(50)]
    reporter.result(RUN, {"outcome": "completed", "log_chunk_count": 50, "pad": "p" * 30_000})
    kept = accepted.count(True)
    assert 10 <= kept < 50 and accepted == [True] * kept + [False] * (50 - kept)
    assert spool.dropped == 50 - kept and len(spool) == kept + 1
    assert len(messages(caplog, "is full")) == 1
    assert len(messages(caplog, "dropping series and log posts")) == 1
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane) == list(range(kept))
    (_, body), = plane.posts("result")
    assert body["log_chunk_count"] == 50  # the control plane sees what never arrived
    assert plane.posts()[-1][0].endswith("/result")


CLAIM_SCRIPT = """#!/bin/sh
printf '%s\\n' {lines} > "$1"
i=0
while [ $i -lt 50 ]; do echo "output line $i"; i=$((i+1)); done
"""


def test_a_run_goes_on_and_reports_everything_when_the_spool_disk_is_full(small_fs, plane, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="agents")
    start = float(int(time.time()) - 30)
    lines = [json.dumps({"perfmon_stream": 1})]
    lines += [json.dumps({"t": start + i * 0.25, "ms": 5.0, "status": 200}) for i in range(12)]
    script = CLAIM_SCRIPT.format(lines=" ".join("'" + line + "'" for line in lines))
    plane.claims[RUN] = ClaimAnswer(run_id=RUN, tool="custom", script=script, script_filename="",
                                    parameters={}, thresholds={}, apdex_t_ms=500, time_limit_s=60,
                                    interval_s=1.0).to_dict()
    (tmp_path / "work").mkdir()
    config = AgentConfig(server_url=plane.url, agent_id="eu-1", credential="pma_test_secret",
                         broker_url="memory://", queue="agent.eu-1", work_root=str(tmp_path / "work"),
                         spool_dir=str(small_fs / "spool"), stream_interval_s=0.2)
    spool = Spool(small_fs / "spool", reserve_bytes=32 * 1024)
    reporter = Reporter(ControlPlane(plane.url, config.credential, timeout=10), spool,
                        initial_backoff_s=0.05, max_backoff_s=0.2)
    catalog = ToolCatalog(scratch_root=tmp_path / "work")
    catalog.refresh(("custom",))
    # The run markers live in the spool directory: they cannot be written either.
    ctx = AgentContext(config=config, reporter=reporter, catalog=catalog, state=AgentState(config.running_dir),
                       run_as=RunAs.resolve(""))
    fill(small_fs)

    outcome = execute_run(ctx, RunAssignment(run_id=RUN, agent_id="eu-1", tool="custom",
                                             time_limit_s=60).to_dict())
    reporter.start()
    try:
        assert reporter.wait_idle(30)
    finally:
        reporter.stop()
        spool.close()
    assert outcome == Outcome.COMPLETED
    (_, body), = plane.posts("result")
    report = RunReport.from_dict(body)
    assert report.outcome == Outcome.COMPLETED and report.result.count == 12
    assert len(chunk_seqs(plane)) == report.log_chunk_count >= 1  # nothing measured was lost
    assert "output line 49" in "".join(c["text"] for _, b in plane.posts("logs") for c in b["chunks"])
    assert sum(len(b["points"]) for _, b in plane.posts("series")) == report.series_count >= 3
    assert len(messages(caplog, "is full")) == 1


def test_doctor_says_the_spool_is_full(small_fs, tmp_path):
    spool = Spool(small_fs / "spool", reserve_bytes=0)
    spool.close()
    config = AgentConfig(server_url="http://127.0.0.1:9", agent_id="eu-1", credential="c", broker_url="memory://",
                         queue="agent.eu-1", work_root=str(tmp_path), spool_dir=str(small_fs / "spool"))
    out = io.StringIO()
    check_dirs(config, Report(out))
    assert f"[warn] spool {small_fs / 'spool'} has 0 MiB free" in out.getvalue()  # 512 KiB in all
    filler = fill(small_fs)
    out = io.StringIO()
    report = Report(out)
    check_dirs(config, report)
    assert f"[FAIL] spool {small_fs / 'spool'} is full (No space left on device)" in out.getvalue()
    assert report.failures == 1
    assert [p.name for p in (small_fs / "spool").iterdir() if p.name.startswith(".doctor")] == []
    filler.unlink()


# -- files a crash cut short -------------------------------------------------------------------

def write_posts(directory: Path, n: int) -> list[Path]:
    spool = Spool(directory, reserve_bytes=0)
    for i in range(n):
        spool.append(path=f"/runs/{RUN}/logs", run_id=RUN, kind="logs",
                     body={"chunks": [{"seq": i, "text": f"line {i} " + "w" * 100}]})
    spool.append(path=f"/runs/{RUN}/result", run_id=RUN, kind="result", body={"outcome": "completed"},
                 essential=True)
    spool.close()
    return spool_files(directory)


def test_truncated_empty_and_temporary_files_are_set_aside_and_the_rest_sent_once(tmp_path, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = tmp_path / "spool"
    files = write_posts(directory, 6)
    half = files[1].read_bytes()[: len(files[1].read_bytes()) // 2]
    files[1].write_bytes(half)  # half a JSON document
    files[3].write_bytes(b"")  # a zero-length file (rename reached the disk, the data did not)
    (directory / ".tmp-7").write_bytes(b'{"path":"/runs/x/logs","run_id":')  # a crash before the rename

    spool = Spool(directory, reserve_bytes=0)
    assert (directory / DAMAGED / ".tmp-7").exists() and not (directory / ".tmp-7").exists()
    assert messages(caplog, ".tmp-7")
    reporter = reporter_for(plane, spool)
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()

    assert chunk_seqs(plane) == [0, 2, 4, 5]
    assert plane.posts()[-1][0].endswith("/result") and len(plane.posts("result")) == 1
    assert (directory / DAMAGED / files[1].name).read_bytes() == half  # the evidence is kept
    assert (directory / DAMAGED / files[3].name).read_bytes() == b""
    for name in (files[1].name, files[3].name):
        (line,) = messages(caplog, name)
        assert str(directory / name) in line and "moved it to" in line
    assert "empty file" in messages(caplog, files[3].name)[0]
    assert spool_files(directory) == []

    # Restarted again: nothing is sent twice and the damaged files are not looked at again.
    caplog.clear()
    before = list(plane.attempts)
    spool = Spool(directory, reserve_bytes=0)
    assert len(spool) == 0
    reporter = reporter_for(plane, spool)
    reporter.start()
    assert reporter.wait_idle(2)
    reporter.stop()
    spool.close()
    assert plane.attempts == before and messages(caplog, "unreadable") == []


def test_a_file_damaged_while_queued_is_set_aside_once_while_sending(tmp_path, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = tmp_path / "spool"
    files = write_posts(directory, 4)
    spool = Spool(directory, reserve_bytes=0)
    plane.status = 503
    reporter = reporter_for(plane, spool)
    reporter.start()
    deadline = time.monotonic() + 10
    while not plane.attempts and time.monotonic() < deadline:
        time.sleep(0.02)
    files[2].write_bytes(files[2].read_bytes()[:10])  # damaged after it was loaded
    while not (directory / DAMAGED / files[2].name).exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # found at the next retry's read (a batch read before may still be in flight)
    plane.status = 200
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane) == [0, 1, 3]
    assert plane.posts()[-1][0].endswith("/result")
    assert len(messages(caplog, files[2].name)) == 1
    assert (directory / DAMAGED / files[2].name).exists()


CRASHING_CHILD = """
import resource, signal, sys
from agents.spool import Spool
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; the kernel's default kills the process
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
spool = Spool(sys.argv[1], reserve_bytes=0)
resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, resource.RLIM_INFINITY))
run = "{run}"
for i in range(5):
    spool.append(path=f"/runs/{{run}}/logs", run_id=run, kind="logs", body={{"chunks": [{{"seq": i, "text": "ok"}}]}})
print("spooled", flush=True)
spool.append(path=f"/runs/{{run}}/logs", run_id=run, kind="logs", body={{"chunks": [{{"seq": 5, "text": "v" * 100000}}]}})
print("not reached", flush=True)
"""


def test_an_agent_killed_inside_a_write_is_restarted_over_its_spool_and_sends_each_valid_post_once(
        tmp_path, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = tmp_path / "spool"
    child = subprocess.run([sys.executable, "-c", CRASHING_CHILD.format(run=RUN), str(directory)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert child.returncode == -signal.SIGXFSZ, child.stderr
    assert child.stdout.strip() == "spooled"
    (leftover,) = [p for p in directory.iterdir() if p.name.startswith(".tmp-")]
    assert leftover.stat().st_size == 16 * 1024  # cut inside the post: half a JSON document
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY  # only the child's

    spool = Spool(directory, reserve_bytes=0)  # the restarted agent
    assert len(spool) == 5
    reporter = reporter_for(plane, spool)
    reporter.result(RUN, {"outcome": "agent_error"})
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane) == [0, 1, 2, 3, 4]
    assert plane.posts()[-1][0].endswith("/result") and len(plane.posts("result")) == 1
    assert (directory / DAMAGED / leftover.name).stat().st_size == 16 * 1024
    (line,) = messages(caplog, leftover.name)
    assert str(leftover) in line


def test_an_agent_started_on_a_full_disk_starts_sets_aside_and_sends(small_fs, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = small_fs / "spool"
    write_posts(directory, 3)
    (directory / ".tmp-9").write_bytes(b'{"path":')
    fill(small_fs)

    spool = Spool(directory)  # no room for the 4 MiB reserve: said, and the agent goes on
    assert messages(caplog, "no room for its", logging.WARNING)
    assert not (directory / ".tmp-9").exists() and messages(caplog, ".tmp-9")
    reporter = reporter_for(plane, spool)
    reporter.result(OTHER, {"outcome": "agent_error"})  # what recover() spools for a run left running
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane) == [0, 1, 2]
    assert [path.split("/")[4] for path, _ in plane.posts("result")] == [RUN, OTHER]


def test_a_damaged_file_is_set_aside_in_place_when_damaged_dir_cannot_be_made(tmp_path, plane, caplog):
    caplog.set_level(logging.INFO, logger="agents.spool")
    directory = tmp_path / "spool"
    files = write_posts(directory, 3)
    (directory / DAMAGED).write_text("")  # a file in the way: mkdir fails as on a full disk
    files[0].write_bytes(b"{")
    spool = Spool(directory, reserve_bytes=0)
    reporter = reporter_for(plane, spool)
    reporter.start()
    assert reporter.wait_idle(10)
    reporter.stop()
    spool.close()
    assert chunk_seqs(plane) == [1, 2]
    aside = directory / f"{DAMAGED}-{files[0].name}"
    assert aside.read_bytes() == b"{" and str(aside) in messages(caplog, files[0].name)[0]

    before = list(plane.attempts)
    spool = Spool(directory, reserve_bytes=0)  # not loaded again
    assert len(spool) == 0
    spool.close()
    assert plane.attempts == before
    config = AgentConfig(server_url="http://127.0.0.1:9", agent_id="eu-1", credential="c", broker_url="memory://",
                         queue="agent.eu-1", work_root=str(tmp_path), spool_dir=str(directory))
    out = io.StringIO()
    check_dirs(config, Report(out))
    assert "[warn] 1 unreadable spool files" in out.getvalue()
