"""Tool processes: the scrubbed environment, the output cap and its marker, stopping
a process group by policy (graceful signal, grace, SIGKILL)."""

import os
import signal
import time

import psutil

from agents.process import MARKER, ToolProcess
from agents.tools import scrubbed_env
from runners.adapters.base import StopPolicy


def run_to_end(process: ToolProcess, timeout: float = 20.0) -> str:
    process.start()
    deadline = time.monotonic() + timeout
    text = []
    while process.poll() is None:
        assert time.monotonic() < deadline, "the process did not end"
        text.append(process.take_output())
        time.sleep(0.05)
    process.finish()
    text.append(process.take_output())
    return "".join(text)


def sh(script: str, tmp_path, *, env=None, cap=1 << 20) -> ToolProcess:
    return ToolProcess(["/bin/sh", "-c", script], cwd=tmp_path, env=env or scrubbed_env({}, work_dir=tmp_path),
                       output_cap_bytes=cap)


def test_the_tool_sees_only_the_scrubbed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFMON_AGENT_CONFIG", "/etc/perfmon/agent.json")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "agent-host-secret")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:broker-password@10.0.0.1:6379/0")
    env = scrubbed_env({"TARGET": "http://127.0.0.1:1", "K6_VUS": "2"}, work_dir=tmp_path, tool_path="/opt/k6/bin/k6")
    (tmp_path / "tmp").mkdir()
    output = run_to_end(sh("env", tmp_path, env=env))
    seen = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    seen.pop("PWD", None)  # the shell adds these itself
    seen.pop("SHLVL", None)
    seen.pop("_", None)
    assert set(seen) == {"PATH", "HOME", "TMPDIR", "LANG", "TARGET", "K6_VUS"}
    assert seen["HOME"] == str(tmp_path) and seen["TMPDIR"] == str(tmp_path / "tmp")
    assert seen["PATH"].split(":")[0] == "/opt/k6/bin"
    for secret in ("agent-host-secret", "broker-password", "/etc/perfmon/agent.json"):
        assert secret not in output


def test_output_beyond_the_cap_is_discarded_behind_a_visible_marker(tmp_path):
    # 300 KB of numbered lines on stdout and stderr; the cap keeps 64 KiB
    script = "i=0; while [ $i -lt 30000 ]; do echo \"line $i ........\"; echo \"err $i\" >&2; i=$((i+1)); done"
    process = sh(script, tmp_path, cap=64 * 1024)
    output = run_to_end(process)
    head, marker, tail = output.partition(f"\n{MARKER} output truncated")
    assert marker and "cap of 65536 bytes" in tail
    assert len(head.encode()) <= 64 * 1024
    assert head.startswith("line 0 ")
    assert process.truncated and process.captured_bytes == 64 * 1024
    assert process.discarded_bytes > 200_000, "the rest is read (the tool never blocks) and counted"
    assert process.poll() == 0


def test_output_under_the_cap_is_complete_and_in_order(tmp_path):
    output = run_to_end(sh("for i in $(seq 1 2000); do echo $i; done", tmp_path))
    assert output.split() == [str(i) for i in range(1, 2001)]
    assert MARKER not in output


def test_a_tool_ignoring_the_graceful_signal_is_killed_after_the_grace(tmp_path):
    # the shell and a background child both ignore SIGTERM
    process = sh("trap '' TERM; (trap '' TERM; sleep 60) & echo started; while true; do sleep 0.1; done", tmp_path)
    process.start()
    while "started" not in process.take_output():
        time.sleep(0.05)
    t0 = time.monotonic()
    process.request_stop(StopPolicy(signal=signal.SIGTERM, grace_s=0.5))
    while process.poll() is None:
        process.enforce()
        time.sleep(0.05)
        assert time.monotonic() - t0 < 5
    assert 0.4 < time.monotonic() - t0 < 3
    assert process.poll() == -signal.SIGKILL and process.killed
    process.finish()
    assert live_members(process.pid) == []  # nothing of its group is left running


def live_members(pgid: int) -> list[int]:
    deadline = time.monotonic() + 2
    while True:
        members = []
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    members.append(proc.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        if not members or time.monotonic() > deadline:
            return members
        time.sleep(0.05)


def test_a_graceful_stop_lets_the_tool_flush(tmp_path):
    process = sh("trap 'echo flushed; exit 3' INT; echo started; while true; do sleep 0.1; done", tmp_path)
    process.start()
    while "started" not in process.take_output():
        time.sleep(0.05)
    process.request_stop(StopPolicy(signal=signal.SIGINT, grace_s=10))
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        process.enforce()
        time.sleep(0.05)
    process.finish()
    assert process.poll() == 3 and not process.killed
    assert "flushed" in process.take_output()


def test_background_children_holding_the_pipe_do_not_hang_the_run(tmp_path):
    t0 = time.monotonic()
    output = run_to_end(sh("sleep 30 & echo done", tmp_path))
    assert output.strip() == "done"
    assert time.monotonic() - t0 < 5
