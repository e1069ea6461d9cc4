"""k6 run for real against the local target; figures checked against k6's raw NDJSON
parsed here with plain json (independent of the adapter's reader)."""

import json
import os
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.errors import InvalidSpec, ParseError
from tests.runners import proc
from tests.runners.conftest import require_tool
from tests.runners.exact import Raw, check_result

ADAPTER = get_adapter("k6")

SCRIPT = """
import http from 'k6/http';
import { sleep } from 'k6';
export const options = { vus: Number(__ENV.VUS), duration: __ENV.DURATION };
export default function () {
  const base = __ENV.TARGET;
  http.get(`${base}/mixed`);
  http.get(`${base}/ok`);
  if (__ITER % 4 === 0) { http.get(`${base}/fail`); }
  if (__ITER % 10 === 0) { http.get(`${base}/slow?ms=60`); }
  sleep(Number(__ENV.PAUSE || 0));
}
"""


def raw_requests(path: Path) -> list[Raw]:
    """k6's http_req_duration Points, read independently: time is the END of the request."""
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj["type"] != "Point" or obj["metric"] != "http_req_duration":
            continue
        data = obj["data"]
        stamp = data["time"]  # e.g. 2026-11-23T01:15:06.314250977Z
        whole, frac = stamp.rstrip("Z").split(".")
        end = datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + frac)
        tags = data["tags"]
        out.append(Raw(start=end - data["value"] / 1000, ms=data["value"],
                       status=int(tags["status"]), failed=tags["expected_response"] == "false",
                       name=tags["name"]))
    return out


def make_spec(tmp_path, target, *, vus=3, duration="3s", pause=0.0, interval_s=5.0):
    k6 = require_tool("k6")
    script = tmp_path / ADAPTER.script_filename
    script.write_text(SCRIPT)
    params = {"TARGET": target.base_url, "VUS": str(vus), "DURATION": duration,
              "PAUSE": str(pause)}
    return RunSpec(work_dir=tmp_path, script_path=script, parameters=params, tool_path=k6,
                   interval_s=interval_s)


def test_counts_errors_and_percentiles_match_raw_output(tmp_path, target):
    spec = make_spec(tmp_path, target, vus=3, duration="3s", pause=0.005)
    command = ADAPTER.prepare(spec)
    running = proc.start(command)
    code = running.wait(timeout=30)
    assert ADAPTER.classify_exit(code).ok, running.log()
    result = ADAPTER.reader(spec).finish()

    raws = raw_requests(command.output_path)
    check_result(result, raws)
    assert result.errors > 0 and result.count > result.errors  # the mix really was mixed
    # and k6's own view agrees with what the target served, path by path
    by_path = Counter((urlsplit(r.name).path, r.status) for r in raws)
    assert by_path == target.counts()
    assert not result.partial


def test_series_appear_while_k6_runs(tmp_path, target):
    spec = make_spec(tmp_path, target, vus=2, duration="6s", pause=0.02, interval_s=1.0)
    command = ADAPTER.prepare(spec)
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    seen_while_running = []
    deadline = time.monotonic() + 20
    while running.proc.poll() is None and time.monotonic() < deadline:
        seen_while_running += reader.poll(now=time.time())
        time.sleep(0.2)
    running.wait(timeout=10)
    assert len(seen_while_running) >= 2, "no series point was handed out while k6 ran"
    seqs = [p.seq for p in seen_while_running]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))   # in order, each once
    assert all(p.interval_s == 1.0 for p in seen_while_running[1:])
    assert seen_while_running[0].interval_s in (1.0, 2.0)  # a first interval barely begun joins the next
    assert any(p.count > 0 for p in seen_while_running)
    result = reader.finish()
    assert result.series[:len(seen_while_running)] == tuple(seen_while_running)
    check_result(result, raw_requests(command.output_path))


ARRIVAL_SCRIPT = """
import http from 'k6/http';
export const options = { scenarios: { steady: {
  executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: '8s', preAllocatedVUs: 10,
} } };
export default function () { http.get(`${__ENV.TARGET}/ok`); }
"""


def test_every_interval_of_a_constant_rate_shows_the_runs_rate(tmp_path, target):
    # 50 requests a second for 8 s: with rates divided by the time the run covered in
    # each interval (and slivers at the edges joined to their neighbour), no interval
    # dips at the start or the end, where count / interval showed a third or half.
    k6 = require_tool("k6")
    script = tmp_path / ADAPTER.script_filename
    script.write_text(ARRIVAL_SCRIPT)
    spec = RunSpec(work_dir=tmp_path, script_path=script, parameters={"TARGET": target.base_url}, tool_path=k6)
    assert spec.interval_s == 1.0  # the series interval agents use
    command = ADAPTER.prepare(spec)
    running = proc.start(command)
    assert ADAPTER.classify_exit(running.wait(timeout=60)).ok, running.log()
    result = ADAPTER.reader(spec).finish()

    assert result.count >= 350 and result.errors == 0
    assert len(result.series) >= 7  # one point a second, not three for the whole run
    assert {p.interval_s for p in result.series[1:-1]} == {1.0}
    rates = [p.throughput_rps for p in result.series]
    assert all(abs(rate - result.throughput_rps) <= 0.35 * result.throughput_rps for rate in rates), (
        result.throughput_rps, [(p.count, round(p.covered_s, 3), round(p.throughput_rps, 1)) for p in result.series])
    assert sum(p.count for p in result.series) == result.count
    assert sum(p.covered_s for p in result.series) == pytest.approx(result.duration_s, abs=0.01)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_ends_k6_and_output_parses(tmp_path, target, sig):
    spec = make_spec(tmp_path, target, vus=2, duration="60s", pause=0.01)
    command = ADAPTER.prepare(spec)
    assert command.stop.signal == signal.SIGINT
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    deadline = time.monotonic() + 15
    while reader.builder.count < 20 and time.monotonic() < deadline:
        assert running.proc.poll() is None, running.log()
        reader.poll()
        time.sleep(0.1)
    started = time.monotonic()
    os.killpg(running.proc.pid, sig)
    code = running.wait(timeout=command.stop.grace_s)
    assert time.monotonic() - started < 5
    outcome = ADAPTER.classify_exit(code)
    assert not outcome.ok and "abort" in outcome.reason
    result = reader.finish()
    assert result.count >= 20
    check_result(result, raw_requests(command.output_path))


def test_k6_thresholds_failing_is_still_an_executed_run():
    assert ADAPTER.classify_exit(99).ok
    assert "thresholds" in ADAPTER.classify_exit(99).reason
    assert not ADAPTER.classify_exit(107).ok
    assert "script exception" in ADAPTER.classify_exit(107).reason
    assert ADAPTER.classify_exit(-9).reason == "killed by signal SIGKILL"


def test_command_line(tmp_path):
    spec = RunSpec(work_dir=tmp_path, script_path=tmp_path / "script.js",
                   parameters={"BASE_URL": "http://127.0.0.1:1", "K6_VUS": "2"})
    command = ADAPTER.prepare(spec)
    argv = command.argv
    assert argv[:2] == ["k6", "run"]
    assert argv[argv.index("--address") + 1] == ""
    assert "--no-usage-report" in argv
    assert f"json={tmp_path / 'k6-output.json'}" in argv
    assert argv[argv.index("-e"):argv.index("-e") + 2] == ["-e", "BASE_URL=http://127.0.0.1:1"]
    assert argv[-1] == str(tmp_path / "script.js")
    assert command.env == {"BASE_URL": "http://127.0.0.1:1", "K6_VUS": "2",
                           "K6_NO_USAGE_REPORT": "true"}
    with pytest.raises(InvalidSpec):
        ADAPTER.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "s.js",
                                parameters={"BAD-NAME": "x"}))


def test_version_detection():
    assert ADAPTER.version_argv == ["k6", "version"]
    assert ADAPTER.detect_version("k6 v1.1.0 (commit/0e3fb953be, go1.24.4, linux/amd64)") == "1.1.0"
    assert ADAPTER.detect_version("nothing here") is None


POINT = ('{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-23T01:15:06.5+01:00",'
         '"value":12.5,"tags":{"expected_response":"true","name":"n","status":"200"}}}')


def test_reader_handles_offsets_and_statuses(tmp_path):
    out = tmp_path / "k6.json"
    out.write_text(POINT + "\n" + POINT.replace('"200"', '"0"').replace('"true"', '"false"') + "\n")
    result = ADAPTER.file_reader(out).finish()
    end = datetime.fromisoformat("2026-11-23T01:15:06.5+01:00").timestamp()
    assert result.count == 2 and result.errors == 1
    assert result.started_at == pytest.approx(end - 0.0125)


@pytest.mark.parametrize("content, line", [
    (POINT + "\n" + POINT[:40] + "\n" + POINT + "\n", 2),        # cut in the middle of the file
    ("garbage\n", 1),
    (POINT.replace("12.5", '"fast"') + "\n", 1),
    (POINT.replace("2026-11-23T01:15:06.5+01:00", "yesterday") + "\n", 1),
    (POINT.replace('"status":"200"', '"status":"OK"') + "\n", 1),
    ('{"metric":"http_reqs","type":"Point"\n', 1),
])
def test_garbage_is_a_parse_error(tmp_path, content, line):
    out = tmp_path / "k6.json"
    out.write_text(content)
    with pytest.raises(ParseError) as err:
        ADAPTER.file_reader(out).finish()
    assert err.value.line == line and str(out) in str(err.value)


def test_truncated_tail_is_partial(tmp_path):
    out = tmp_path / "k6.json"
    out.write_text(POINT + "\n" + POINT[:60])
    result = ADAPTER.file_reader(out).finish()
    assert result.count == 1 and result.partial


# The script tries to lift the deny lists through its own options: k6's flags outrank them.
EGRESS_SCRIPT = """
import http from 'k6/http';
export const options = { vus: 1, iterations: 5, blacklistIPs: [], blockHostnames: [] };
export default function () { http.get(__ENV.URL); }
"""


def egress_run(tmp_path, url: str, **deny):
    tmp_path.mkdir(exist_ok=True)
    script = tmp_path / ADAPTER.script_filename
    script.write_text(EGRESS_SCRIPT)
    spec = RunSpec(work_dir=tmp_path, script_path=script, parameters={"URL": url, "K6_BLACKLIST_IPS": ""},
                   tool_path=require_tool("k6"), **deny)
    command = ADAPTER.prepare(spec)
    running = proc.start(command)
    assert ADAPTER.classify_exit(running.wait(timeout=60)).ok, running.log()
    return ADAPTER.reader(spec).finish()


def test_a_denied_address_is_never_reached_and_its_requests_count_as_errors(tmp_path, target):
    result = egress_run(tmp_path / "denied", target.url("/ok"),
                        egress_deny_ips=("169.254.0.0/16", "127.0.0.1/32"))
    assert target.served() == []
    assert result.count == 5 and result.errors == 5
    (entry,) = result.requests
    assert entry.status_codes == {"0": 5}
    assert entry.causes == {"ip is blacklisted": 5}  # k6's error tag for its code 1110

    # The same run without that entry reaches the target.
    result = egress_run(tmp_path / "allowed", target.url("/ok"), egress_deny_ips=("169.254.0.0/16",))
    assert target.counts() == {("/ok", 200): 5}
    assert result.count == 5 and result.errors == 0


def test_a_denied_host_name_is_never_reached(tmp_path, target):
    # Blocked before it is resolved: "localhost" is not even looked up.
    result = egress_run(tmp_path, f"http://localhost:{target.port}/ok",
                        egress_deny_hostnames=("metadata.goog", "localhost"))
    assert target.served() == []
    assert result.count == 5 and result.errors == 5
    (entry,) = result.requests
    assert entry.causes == {"hostname is blocked": 5}  # k6's code 1111


def test_a_host_name_resolving_into_a_denied_network_is_refused_too(tmp_path, target):
    # "localhost" comes from /etc/hosts, never from a DNS server.
    result = egress_run(tmp_path, f"http://localhost:{target.port}/ok", egress_deny_ips=("127.0.0.1/32", "::1/128"))
    assert target.served() == []
    assert result.count == 5 and result.requests[0].causes == {"ip is blacklisted": 5}


def test_the_deny_lists_go_on_the_command_line(tmp_path):
    spec = RunSpec(work_dir=tmp_path, script_path=tmp_path / "script.js",
                   egress_deny_ips=("169.254.0.0/16", "fd00:ec2::254/128"),
                   egress_deny_hostnames=("metadata.google.internal", "*.internal"))
    argv = ADAPTER.prepare(spec).argv
    assert argv[argv.index("--blacklist-ip") + 1] == "169.254.0.0/16,fd00:ec2::254/128"
    assert argv[argv.index("--block-hostnames") + 1] == "metadata.google.internal,*.internal"
    assert argv[-1] == str(tmp_path / "script.js")
    assert ADAPTER.restricts_egress
    # Empty lists: no flags at all (k6 refuses an empty --block-hostnames pattern).
    argv = ADAPTER.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "script.js")).argv
    assert "--blacklist-ip" not in argv and "--block-hostnames" not in argv
