"""Locust run for real against the local target; figures checked against the
listener's per-request stream parsed here with plain json, and against what
the target served."""

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.adapters.locust import LISTENER_FILENAME, run_time
from runners.errors import InvalidSpec
from tests.runners import proc
from tests.runners.conftest import require_tool
from tests.runners.exact import Raw, check_result

ADAPTER = get_adapter("locust")

LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    host = os.environ["TARGET"]
    wait_time = constant(float(os.environ.get("PAUSE", "0")))

    @task(5)
    def mixed(self):
        self.client.get("/mixed")

    @task(3)
    def ok(self):
        self.client.get("/ok")

    @task(1)
    def fail_caught(self):
        # Locust counts this 500 as a success; the common error rule must not
        with self.client.get("/fail", catch_response=True) as response:
            response.success()

    @task(1)
    def slow(self):
        self.client.get("/slow?ms=40", name="/slow")
"""


def raw_requests(path: Path) -> list[Raw]:
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "perfmon_stream" in obj:
            continue
        out.append(Raw(start=obj["t"], ms=obj["ms"], status=obj["status"], failed=not obj["ok"],
                       name=obj["name"]))
    return out


def make_spec(tmp_path, target, *, users=3, run="3s", pause=0.005, interval_s=5.0):
    locust = require_tool("locust")
    script = tmp_path / ADAPTER.script_filename
    script.write_text(LOCUSTFILE)
    params = {"TARGET": target.base_url, "LOCUST_USERS": str(users), "LOCUST_RUN_TIME": run,
              "PAUSE": str(pause)}
    return RunSpec(work_dir=tmp_path, script_path=script, parameters=params, tool_path=locust,
                   interval_s=interval_s)


def test_counts_errors_percentiles_and_live_series(tmp_path, target):
    # Locust takes 1-3 s to start before its run time counts; 5 s leaves room for
    # intervals to close while it still runs, even on a loaded machine
    spec = make_spec(tmp_path, target, users=4, run="5s", interval_s=1.0)
    command = ADAPTER.prepare(spec)
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    live = []
    deadline = time.monotonic() + 30
    while running.proc.poll() is None and time.monotonic() < deadline:
        live += reader.poll(now=time.time())
        time.sleep(0.2)
    code = running.wait(timeout=15)
    assert ADAPTER.classify_exit(code).ok, running.log()
    assert live and any(p.count for p in live), "no series point while Locust ran"
    result = reader.finish()
    assert result.series[:len(live)] == tuple(live)

    raws = raw_requests(command.output_path)
    check_result(result, raws)
    # 500s from /fail were marked successes by the script, still errors by our rule
    assert any(r.name == "/fail" and not r.failed for r in raws)
    assert result.errors == sum(1 for r in raws if r.status >= 400)
    # --stop-timeout lets in-flight tasks finish: the stream holds exactly what was served
    assert Counter((r.name, r.status) for r in raws) == target.counts()
    assert not result.partial


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_ends_locust_and_output_parses(tmp_path, target, sig):
    spec = make_spec(tmp_path, target, users=2, run="60s", pause=0.01)
    command = ADAPTER.prepare(spec)
    assert command.stop.signal == signal.SIGINT
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    deadline = time.monotonic() + 20
    while reader.builder.count < 20 and time.monotonic() < deadline:
        assert running.proc.poll() is None, running.log()
        reader.poll()
        time.sleep(0.1)
    started = time.monotonic()
    os.killpg(running.proc.pid, sig)
    code = running.wait(timeout=command.stop.grace_s)
    assert time.monotonic() - started < 5
    assert code == 0, running.log()
    result = reader.finish()
    raws = raw_requests(command.output_path)
    assert result.count >= 20
    check_result(result, raws)
    # stopped mid-request: the target may have served a request Locust never reported
    assert result.count <= sum(target.counts().values()) <= result.count + 2


def test_command_line(tmp_path):
    script = tmp_path / "locustfile.py"
    spec = RunSpec(work_dir=tmp_path, script_path=script,
                   parameters={"LOCUST_USERS": "5", "LOCUST_SPAWN_RATE": "2.5",
                               "LOCUST_HOST": "http://127.0.0.1:9"}, duration_s=12.2)
    command = ADAPTER.prepare(spec)
    argv = command.argv
    assert argv[:3] == ["locust", "-f", f"{script},{tmp_path / LISTENER_FILENAME}"]
    assert (tmp_path / LISTENER_FILENAME).is_file()
    assert {"--headless", "--only-summary"} <= set(argv)
    flags = dict(zip(argv[3::], argv[4::], strict=False))
    assert flags["-u"] == "5" and flags["-r"] == "2.5" and flags["-t"] == "13s"
    assert flags["--exit-code-on-error"] == "0"
    assert command.env["PERFMON_RESULT_PATH"] == str(command.output_path)
    assert command.env["LOCUST_HOST"] == "http://127.0.0.1:9"


def test_defaults_and_bad_parameters(tmp_path):
    def spec(params, duration=None):
        return RunSpec(work_dir=tmp_path, script_path=tmp_path / "l.py", parameters=params,
                       duration_s=duration)

    argv = ADAPTER.prepare(spec({})).argv
    assert argv[argv.index("-u") + 1] == "1" and argv[argv.index("-t") + 1] == "60s"
    assert run_time(spec({"LOCUST_RUN_TIME": "1h30m"})) == "1h30m"
    for bad in ({"LOCUST_USERS": "many"}, {"LOCUST_USERS": "0"}, {"LOCUST_RUN_TIME": "soon"},
                {"LOCUST_SPAWN_RATE": "-1"}):
        with pytest.raises(InvalidSpec):
            ADAPTER.prepare(spec(bad))


def test_exit_codes_and_version():
    assert ADAPTER.classify_exit(0).ok
    assert not ADAPTER.classify_exit(1).ok
    assert not ADAPTER.classify_exit(2).ok
    assert ADAPTER.detect_version(
        "locust 2.47.0 from /work/main/.venv/lib/python3.11/site-packages/locust "
        "(Python 3.11.7)") == "2.47.0"
