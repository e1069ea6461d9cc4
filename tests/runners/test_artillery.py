"""Artillery adapter: the real tool against the local target, plus the command it builds.

The real-tool tests need var/tools/bin/artillery (scripts/install-artillery.sh)
or PERFMON_ARTILLERY. Expected figures come from the raw NDJSON parsed here
with json and from the requests the target server says it served, never
from runners' own reader.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
from collections import Counter
from pathlib import Path

import pytest

from runners.adapters import get_adapter
from runners.adapters.base import RunSpec
from runners.errors import InvalidSpec
from tests.runners.conftest import require_tool
from tests.runners.exact import Raw, check_result
from tests.runners.proc import kill_group, start

ADAPTER = get_adapter("artillery")

# One VU every 100 ms (arrivalCount over the phase) walks: 200, 500, mixed
# (seeded 0-20 ms delay, every 10th a 500), a templated slow path, then a
# closed port (no response, which ends the VU's scenario in Artillery).
# config.target is a dead port: only the TARGET parameter makes the counts right;
# SLOW_MS arrives as an Artillery variable, USER_HOOK_LOG as an environment variable.
SCRIPT = """\
config:
  target: "http://127.0.0.1:9"
  processor: "./user-hooks.js"
  phases:
    - duration: 2
      arrivalCount: {vusers}
scenarios:
  - afterResponse: countResponse
    flow:
      - get:
          url: "/ok"
      - get:
          url: "/fail"
      - get:
          url: "/mixed"
      - get:
          url: "/slow?ms={{{{ SLOW_MS }}}}"
          name: "slow"
      - get:
          url: "http://127.0.0.1:{closed_port}/refused"
"""

# The user's own processor: the hook must keep running beside ours.
USER_HOOKS = """\
const fs = require('node:fs');
module.exports = {
  countResponse(req, res, context, events, done) {
    fs.appendFileSync(process.env.USER_HOOK_LOG, res.statusCode + '\\n');
    return done();
  }
};
"""

# A steady load for the tests that stop it or watch it: bounded at 60 s and
# 10 VUs/s, stopped long before.
STEADY = """\
config:
  target: "{target}"
  phases:
    - duration: 60
      arrivalRate: 10
scenarios:
  - flow:
      - get:
          url: "/mixed"
"""


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_raw(path: Path) -> list[Raw]:
    """The request records of our stream, parsed here with json (header lines skipped)."""
    raws = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "perfmon_stream" in obj:
            assert obj["perfmon_stream"] == 1
            continue
        raws.append(Raw(start=obj["t"], ms=obj["ms"], status=obj["status"],
                        failed=not obj["ok"], name=obj["name"]))
    return raws


def served_settled(target, expected: int, timeout: float = 3.0) -> Counter:
    """The target's (path, status) counts once ``expected`` responses are recorded.

    The target records a response just after writing it, so the client can
    finish a moment earlier; wait (bounded) for the count to settle.
    """
    deadline = time.monotonic() + timeout
    while True:
        counts = Counter(target.counts())
        if sum(counts.values()) >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def spec_for(tmp_path: Path, script: str, tool: str, **kw) -> RunSpec:
    script_path = tmp_path / ADAPTER.script_filename
    script_path.write_text(script)
    return RunSpec(work_dir=tmp_path, script_path=script_path, tool_path=tool, **kw)


def test_counts_errors_and_percentiles_match_raw_records(tmp_path, target):
    tool = require_tool("artillery")
    vusers = 20
    (tmp_path / "user-hooks.js").write_text(USER_HOOKS)
    hook_log = tmp_path / "user-hook.log"
    spec = spec_for(
        tmp_path, SCRIPT.format(vusers=vusers, closed_port=closed_port()), tool,
        parameters={"TARGET": target.base_url, "SLOW_MS": "7", "USER_HOOK_LOG": str(hook_log)})
    command = ADAPTER.prepare(spec)
    running = start(command)
    try:
        code = running.wait(timeout=30)
    finally:
        if running.proc.poll() is None:
            kill_group(running.proc)
    assert ADAPTER.classify_exit(code).ok, running.log()[-3000:]

    raws = read_raw(command.output_path)
    by = Counter((r.name, r.status, r.failed) for r in raws)
    # Exact, by construction of the script and the target:
    assert len(raws) == 5 * vusers
    assert by[("GET /ok", 200, False)] == vusers
    assert by[("GET /fail", 500, False)] == vusers  # Artillery itself calls a 500 fine
    assert by[("GET /mixed", 500, False)] == vusers // 10
    assert by[("GET /mixed", 200, False)] == vusers - vusers // 10
    assert by[("slow", 200, False)] == vusers
    assert by[("GET /refused", 0, True)] == vusers
    assert all(r.ms >= 7 for r in raws if r.name == "slow")  # SLOW_MS reached the URL
    # Every response recorded is one the target served, and the other way round.
    served = served_settled(target, expected=4 * vusers)
    assert served == Counter({("/ok", 200): vusers, ("/fail", 500): vusers,
                              ("/mixed", 500): vusers // 10,
                              ("/mixed", 200): vusers - vusers // 10, ("/slow", 200): vusers})
    # The user's own afterResponse hook saw every response too.
    assert len(hook_log.read_text().split()) == 4 * vusers

    result = ADAPTER.reader(spec).finish()
    check_result(result, raws)
    assert result.errors == 2 * vusers + vusers // 10  # 500s and no-response, by the one rule
    assert not result.partial


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_series_appear_while_running_and_stop_keeps_finished_requests(tmp_path, target, sig):
    tool = require_tool("artillery")
    spec = spec_for(tmp_path, STEADY.format(target=target.base_url), tool, interval_s=1.0)
    command = ADAPTER.prepare(spec)
    assert command.stop.signal == signal.SIGINT
    reader = ADAPTER.reader(spec)
    running = start(command)
    seen = []
    try:
        deadline = time.monotonic() + 30
        while len([p for p in seen if p.count]) < 2 and time.monotonic() < deadline:
            assert running.proc.poll() is None, running.log()[-3000:]
            seen += reader.poll(now=time.time())
            time.sleep(0.2)
        assert len([p for p in seen if p.count]) >= 2, running.log()[-3000:]
        assert running.proc.poll() is None  # the series came while it ran
        stopped = time.monotonic()
        os.killpg(running.proc.pid, sig)
        code = running.wait(timeout=10)
        took = time.monotonic() - stopped
    finally:
        if running.proc.poll() is None:
            kill_group(running.proc)
    assert [p.seq for p in seen] == sorted(p.seq for p in seen)
    assert took < command.stop.grace_s
    assert code == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    assert "stopped by " + sig.name in ADAPTER.classify_exit(code).reason

    raws = read_raw(command.output_path)  # every line whole: it parses as it is
    result = reader.finish()
    check_result(result, raws)
    assert result.count >= sum(p.count for p in seen)
    # Requests in flight at the stop are dropped by Artillery, never invented:
    served = sum(served_settled(target, expected=len(raws)).values())
    assert len(raws) <= served <= len(raws) + 10


def test_prepare_adds_our_plugin_without_touching_the_script(tmp_path):
    script = "config:\n  target: http://127.0.0.1:9\nscenarios: []\n"
    spec = spec_for(tmp_path, script, "/opt/artillery",
                    parameters={"TOKEN": "s3cret", "TARGET": "http://127.0.0.1:8",
                                "ARTILLERY_PLUGINS": '{"expect": {}}',
                                "ARTILLERY_PLUGIN_PATH": "/plugins"})
    (tmp_path / ADAPTER.output_filename).write_text("stale\n")
    command = ADAPTER.prepare(spec)

    variables = tmp_path / "perfmon-variables.json"
    assert command.argv == ["/opt/artillery", "run", "--config", str(variables),
                            "--target", "http://127.0.0.1:8", str(spec.script_path)]
    assert "s3cret" not in " ".join(command.argv)  # values stay out of the process list
    assert json.loads(variables.read_text())["config"]["variables"]["TOKEN"] == "s3cret"
    assert stat.S_IMODE(variables.stat().st_mode) == 0o600
    assert spec.script_path.read_text() == script
    assert not command.output_path.exists()
    env = command.env
    assert env["TOKEN"] == "s3cret"
    assert env["PERFMON_RESULT_PATH"] == str(command.output_path)
    assert env["ARTILLERY_DISABLE_TELEMETRY"] == "true"
    assert json.loads(env["ARTILLERY_PLUGINS"]) == {"expect": {}, "perfmon": {}}
    plugin_root, user_path = env["ARTILLERY_PLUGIN_PATH"].split(os.pathsep)
    assert user_path == "/plugins"
    plugin = Path(plugin_root) / "artillery-plugin-perfmon"
    assert "perfmonAfterResponse" in (plugin / "index.js").read_text()
    assert json.loads((plugin / "package.json").read_text())["type"] == "commonjs"


def test_prepare_without_parameters_passes_no_config(tmp_path):
    spec = spec_for(tmp_path, "config: {}\n", "artillery")
    command = ADAPTER.prepare(spec)
    assert command.argv == ["artillery", "run", str(spec.script_path)]
    assert not (tmp_path / "perfmon-variables.json").exists()


@pytest.mark.parametrize("bad", ["not json", "[1, 2]"])
def test_prepare_rejects_artillery_plugins_that_are_not_an_object(tmp_path, bad):
    spec = spec_for(tmp_path, "config: {}\n", "artillery", parameters={"ARTILLERY_PLUGINS": bad})
    with pytest.raises(InvalidSpec, match="ARTILLERY_PLUGINS"):
        ADAPTER.prepare(spec)


def test_exit_codes():
    assert ADAPTER.classify_exit(0).ok
    assert not ADAPTER.classify_exit(1).ok
    assert "ensure" in ADAPTER.classify_exit(1).reason
    assert ADAPTER.classify_exit(130).reason == "artillery stopped by SIGINT (exit 130)"
    assert ADAPTER.classify_exit(143).reason == "artillery stopped by SIGTERM (exit 143)"
    assert not ADAPTER.classify_exit(-9).ok


def test_detect_version_reads_the_banner_output():
    output = ("\n  ___ banner ___\n\nVERSION INFO:\n\nArtillery: 2.0.34\n"
              "Node.js:   v22.23.3\nOS:        linux\n")
    assert ADAPTER.detect_version(output) == "2.0.34"
    assert ADAPTER.detect_version("nothing here") is None
    assert ADAPTER.version_argv == ["artillery", "--version"]
