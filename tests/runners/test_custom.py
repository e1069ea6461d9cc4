"""The custom adapter runs the worked example of docs/custom-tools.md for real."""

import json
import os
import re
import signal
import time
from collections import Counter

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.stream import StreamReader
from tests.runners import proc
from tests.runners.conftest import REPO
from tests.runners.exact import Raw, check_result

ADAPTER = get_adapter("custom")
DOC = REPO / "docs" / "custom-tools.md"


def example_script() -> str:
    """The first python block of the doc: the worked example."""
    match = re.search(r"```python\n(#!/usr/bin/env python3\n.*?)```", DOC.read_text(), re.S)
    assert match, "docs/custom-tools.md lost its worked example"
    return match.group(1)


def raw_requests(path):
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "perfmon_stream" not in obj:
            out.append(Raw(obj["t"], obj["ms"], obj["status"], not obj["ok"], obj["name"]))
    return out


def make_spec(tmp_path, target, path="/mixed", duration=3.0):
    script = tmp_path / ADAPTER.script_filename
    script.write_text(example_script())
    script.chmod(0o700)  # as the agent writes it
    return RunSpec(work_dir=tmp_path, script_path=script, duration_s=duration,
                   parameters={"TARGET_URL": target.url(path), "CONCURRENCY": "3"}, interval_s=1.0)


def test_worked_example_measures_exactly_what_was_served(tmp_path, target):
    spec = make_spec(tmp_path, target)
    command = ADAPTER.prepare(spec)
    assert command.argv == [str(spec.script_path.resolve()), str(command.output_path)]
    assert command.env["PERFMON_RESULT_PATH"] == str(command.output_path)
    assert command.env["PERFMON_DURATION_S"] == "3"
    reader = ADAPTER.reader(spec)
    assert isinstance(reader, StreamReader)
    running = proc.start(command)
    live = []
    deadline = time.monotonic() + 20
    while running.proc.poll() is None and time.monotonic() < deadline:
        live += reader.poll(now=time.time())
        time.sleep(0.1)
    code = running.wait(timeout=10)
    assert ADAPTER.classify_exit(code).ok, running.log()
    assert live, "no series point while the script ran"
    result = reader.finish()
    raws = raw_requests(command.output_path)
    check_result(result, raws)
    served = target.counts()
    assert Counter(r.status for r in raws) == Counter(
        {status: n for (_, status), n in served.items()})
    assert result.errors == served.get(("/mixed", 500), 0) > 0


def test_stop_with_sigterm(tmp_path, target):
    spec = make_spec(tmp_path, target, path="/slow?ms=30", duration=60)
    command = ADAPTER.prepare(spec)
    assert command.stop.signal == signal.SIGTERM
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    deadline = time.monotonic() + 10
    while reader.builder.count < 10 and time.monotonic() < deadline:
        reader.poll()
        time.sleep(0.05)
    os.killpg(running.proc.pid, command.stop.signal)
    code = running.wait(timeout=5)
    assert code == 0
    result = reader.finish()
    assert result.count >= 10
    check_result(result, raw_requests(command.output_path))


def test_failing_script_is_not_ok(tmp_path):
    assert not ADAPTER.classify_exit(3).ok
    assert ADAPTER.classify_exit(0).ok
    assert ADAPTER.version_argv == [] and ADAPTER.detect_version("1.2.3") is None


def test_tool_path_is_an_interpreter(tmp_path):
    spec = RunSpec(work_dir=tmp_path, script_path=tmp_path / "script", tool_path="/usr/bin/python3")
    argv = ADAPTER.prepare(spec).argv
    assert argv[0] == "/usr/bin/python3" and argv[1] == str((tmp_path / "script").resolve())


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", ""])
def test_bad_parameter_names_are_refused(tmp_path, name):
    from runners.errors import InvalidSpec

    with pytest.raises(InvalidSpec):
        ADAPTER.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "script",
                                parameters={name: "x"}))
