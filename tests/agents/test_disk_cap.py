"""The disk cap on a run's work dir: real custom runs that fill it are stopped and end error,
keeping what they measured; what a measurement counts."""

import os
import re
import time

import pytest

from agents.config import AgentConfig, ConfigError
from agents.executor import execute_run
from agents.workdir import measure
from runners.protocol import ClaimAnswer, Outcome, RunAssignment, RunReport
from tests.agents.plane import Plane
from tests.agents.test_executor import context

RUN = "44444444-4444-4444-4444-444444444444"
MIB = 1024 * 1024
CHUNK = 64 * 1024

# Appends CHUNK bytes to a file in the work dir {chunks} times (at most 50 MiB), one request
# line in the result stream and one "chunk N" line on stdout per chunk.
FILLER = """#!/bin/sh
{trap}
printf '{{"perfmon_stream": 1}}\\n' > "$1"
i=1
while [ $i -le {chunks} ]; do
  head -c {chunk} /dev/zero >> filler.bin
  printf '{{"t": %s, "ms": 5.0, "status": 200}}\\n' "$(date +%s)" >> "$1"
  echo "chunk $i"
  i=$((i+1))
  sleep 0.05
done
"""


@pytest.fixture
def plane():
    server = Plane().start()
    yield server
    server.stop()


def run_filler(plane, tmp_path, *, chunks: int, cap: int, trap: str = "") -> tuple[RunReport, str, float]:
    """Run FILLER as a custom run; (its report, its whole log, seconds the run took)."""
    script = FILLER.format(chunks=chunks, chunk=CHUNK, trap=trap)
    plane.claims[RUN] = ClaimAnswer(run_id=RUN, tool="custom", script=script, script_filename="",
                                    parameters={}, thresholds={}, apdex_t_ms=500, time_limit_s=120,
                                    interval_s=1.0).to_dict()
    ctx, spool = context(plane, tmp_path, work_cap_bytes=cap)
    t0 = time.monotonic()
    execute_run(ctx, RunAssignment(run_id=RUN, agent_id="eu-1", tool="custom", time_limit_s=120).to_dict())
    took = time.monotonic() - t0
    ctx.reporter.start()
    try:
        assert ctx.reporter.wait_idle(30)
    finally:
        ctx.reporter.stop()
        spool.close()
    (_, body), = plane.posts("result")
    chunks_posted = sorted((c for _, post in plane.posts("logs") for c in post["chunks"]), key=lambda c: c["seq"])
    assert list((tmp_path / "work").iterdir()) == [] and ctx.state.leftover_markers() == []
    return RunReport.from_dict(body), "".join(c["text"] for c in chunks_posted), took


def written(log: str) -> int:
    """Bytes the filler appended, from the last "chunk N" line it printed."""
    return max((int(n) for n in re.findall(r"^chunk (\d+)$", log, re.MULTILINE)), default=0) * CHUNK


def test_a_run_filling_its_work_dir_past_the_cap_is_stopped_and_ends_error_with_what_it_measured(plane, tmp_path):
    # 800 chunks would be 50 MiB over some 40 s; the cap is 1 MiB.
    report, log, took = run_filler(plane, tmp_path, chunks=800, cap=MIB)
    assert report.outcome == Outcome.TOOL_FAILED
    assert report.error.startswith("the run's work directory passed its disk cap of 1048576 bytes (")
    assert "stopping custom: the run's work directory passed its disk cap" in log
    # Measured every 2 s at ~1 MiB/s, the file stops a few MiB past the cap, far from 50 MiB.
    assert MIB < written(log) < 12 * MIB, written(log)
    assert took < 30, took
    # What the run measured until it was stopped is reported (partial), one request per chunk.
    assert report.result is not None and report.result.count >= 16
    assert report.exit_code == -15  # stopped by the custom adapter's SIGTERM, not killed


def test_a_tool_that_keeps_filling_its_work_dir_after_the_stop_is_killed_at_once(plane, tmp_path):
    # The script and its children ignore SIGTERM: without the watch during the grace it would write
    # for the custom adapter's whole 10 s grace (another ~10 MiB) before being killed.
    report, log, took = run_filler(plane, tmp_path, chunks=800, cap=MIB, trap="trap '' TERM")
    assert report.outcome == Outcome.TOOL_FAILED
    assert report.error.startswith("the run's work directory passed its disk cap of 1048576 bytes")
    assert "custom kept filling its work directory while it was stopping" in log and "killed at once" in log
    assert report.exit_code == -9
    assert MIB < written(log) < 12 * MIB, written(log)
    assert took < 30, took


def test_a_run_under_the_cap_is_unaffected(plane, tmp_path):
    report, log, _ = run_filler(plane, tmp_path, chunks=12, cap=2 * MIB)  # 768 KiB of 2 MiB
    assert report.outcome == Outcome.COMPLETED and report.error == ""
    assert report.result.count == 12 and written(log) == 12 * CHUNK
    assert "disk cap" not in log


def test_a_measurement_counts_blocks_on_disk_each_inode_once_and_never_follows_symlinks(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "big.bin").write_bytes(b"x" * 4 * MIB)
    work = tmp_path / "work"
    (work / "a" / "b").mkdir(parents=True)
    (work / "a" / "b" / "data.bin").write_bytes(b"y" * MIB)
    os.link(work / "a" / "b" / "data.bin", work / "a" / "link.bin")
    with open(work / "sparse.bin", "wb") as handle:
        handle.truncate(1024 * MIB)  # 1 GiB long, nothing allocated
    (work / "to-outside").symlink_to(tmp_path / "outside")
    (work / "big-link").symlink_to(tmp_path / "outside" / "big.bin")
    usage = measure(work)
    assert MIB <= usage.bytes < 2 * MIB, usage
    assert usage.entries == 7 and not usage.truncated


def test_a_measurement_stops_at_its_bounds(tmp_path):
    for n in range(30):
        (tmp_path / f"f{n}").touch()
    assert measure(tmp_path, max_entries=20).truncated
    deep = tmp_path / "deep"
    deep.joinpath(*["d"] * 10).mkdir(parents=True)
    assert measure(deep, max_depth=5).truncated and not measure(deep, max_depth=20).truncated


def test_work_cap_bytes_defaults_to_8_gib_and_refuses_small_or_odd_values():
    fields = {"server_url": "http://x", "agent_id": "a", "credential": "pma_x", "broker_url": "memory://",
              "queue": "agent.a", "work_root": "/w", "spool_dir": "/s"}
    assert AgentConfig(**fields).work_cap_bytes == 8 * 1024 * MIB
    for bad in (1000, True, "1 GiB", 2.5e9):
        with pytest.raises(ConfigError, match="work_cap_bytes must be an integer >= 1048576"):
            AgentConfig(**fields, work_cap_bytes=bad)
