"""Gatling run for real against the local target. The Result is checked against
the simulation.log decoded here by a second, minimal decoder (independent of the
adapter's reader), against Gatling's own console totals, and against what the
target served."""

import re
import signal
import stat
import struct
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.adapters.gatling import write_argfile
from runners.errors import InvalidSpec, ParseError
from tests.runners import proc
from tests.runners.conftest import require_tool
from tests.runners.exact import Raw, check_result
from tests.runners.robustness import assert_read_or_refused, read_in_random_pieces

ADAPTER = get_adapter("gatling")

# USERS users loop for DURATION_S seconds over /mixed, /ok, /slow?ms=30 and (every
# 4th loop) /fail, pausing PAUSE_MS per loop. Parameters are system properties.
SIMULATION = """
import static io.gatling.javaapi.core.CoreDsl.*;
import static io.gatling.javaapi.http.HttpDsl.*;

import io.gatling.javaapi.core.*;
import io.gatling.javaapi.http.*;
import java.time.Duration;

public class PerfmonTestSimulation extends Simulation {
  HttpProtocolBuilder protocol = http.baseUrl(System.getProperty("BASE_URL"));

  ScenarioBuilder users = scenario("users")
      .during(Duration.ofSeconds(Long.getLong("DURATION_S", 3L)), "i").on(
          exec(http("/mixed").get("/mixed")),
          exec(http("/ok").get("/ok")),
          exec(http("/slow").get("/slow?ms=30")),
          doIf(session -> session.getInt("i") % 4 == 0).then(exec(http("/fail").get("/fail"))),
          pause(Duration.ofMillis(Long.getLong("PAUSE_MS", 0L))));

  {
    setUp(users.injectOpen(atOnceUsers(Integer.getInteger("USERS", 2)))).protocols(protocol);
  }
}
"""


def decode_log(path: Path) -> list[Raw]:
    """Requests of a Gatling 3.15 simulation.log, decoded without the adapter's reader.

    Stops quietly at a record cut short (a killed Gatling).
    """
    data = path.read_bytes()
    pos = 0
    strings: dict[int, str] = {}

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string():
        nonlocal pos
        n = take(">i")
        if n == 0:
            return ""
        raw, coder = data[pos:pos + n], data[pos + n]
        pos += n + 1
        return raw.decode("latin-1" if coder == 0 else "utf-16-le")

    def cached():
        index = take(">i")
        if index > 0:
            strings[index] = string()
        return strings[abs(index)]

    assert take(">b") == 0
    string(), string()
    run_start = take(">q")
    string()
    for _ in range(take(">i")):
        string()
    for _ in range(take(">i")):
        pos += take(">i")
    out = []
    try:
        while pos < len(data):
            kind = take(">b")
            if kind == 1:
                groups = [cached() for _ in range(take(">i"))]
                name = cached()
                start, end, ok = take(">i"), take(">i"), take(">b")
                message = cached()
                found = re.search(r"found (\d{3})", message)
                status = 200 if ok else int(found.group(1)) if found else 0
                out.append(Raw(start=(run_start + start) / 1000, ms=end - start, status=status,
                               failed=not ok, name=" / ".join([*groups, name]), message=message))
            elif kind == 2:
                pos += 9
            elif kind == 3:
                for _ in range(take(">i")):
                    cached()
                pos += 13
            elif kind == 4:
                cached()
                pos += 4
            else:
                raise AssertionError(f"record type {kind}")
    except (struct.error, IndexError):
        pass  # cut short
    return out


def gatling_console_totals(log: str) -> tuple[int, int, int]:
    """Gatling's own last '> Global | total | OK | KO' line (from its stats engine)."""
    # Gatling groups thousands with commas: "|     1,337 |"
    rows = re.findall(r"^> Global\s*\|\s*([\d,]+)\s*\|\s*([\d,]+)\s*\|\s*([\d,]+)", log,
                      re.MULTILINE)
    assert rows, log[-2000:]
    return tuple(int(x.replace(",", "")) for x in rows[-1])


def the_log(command) -> Path:
    logs = list(Path(command.output_path).glob("*/simulation.log"))
    assert len(logs) == 1, logs
    return logs[0]


def make_spec(tmp_path, target, *, users=2, duration_s=3, pause_ms=0, interval_s=5.0):
    gatling = require_tool("gatling")
    script = tmp_path / ADAPTER.script_filename
    script.write_text(SIMULATION)
    params = {"BASE_URL": target.base_url, "USERS": str(users), "DURATION_S": str(duration_s),
              "PAUSE_MS": str(pause_ms)}
    return RunSpec(work_dir=tmp_path, script_path=script, parameters=params, tool_path=gatling,
                   interval_s=interval_s)


def test_run_matches_raw_log_and_series_appear_while_running(tmp_path, target):
    spec = make_spec(tmp_path, target, users=5, duration_s=8, interval_s=1.0)
    command = ADAPTER.prepare(spec)
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    seen_while_running = []
    deadline = time.monotonic() + 60
    while running.proc.poll() is None and time.monotonic() < deadline:
        seen_while_running += reader.poll(now=time.time())
        time.sleep(0.2)
    code = running.wait(timeout=20)
    assert ADAPTER.classify_exit(code).ok, running.log()
    result = reader.finish()

    raws = decode_log(the_log(command))
    check_result(result, raws)
    assert result.errors > 0 and result.count > result.errors  # the mix really was mixed
    assert not result.partial
    total, ok, ko = gatling_console_totals(running.log())
    assert (result.count, result.count - result.errors, result.errors) == (total, ok, ko)
    assert Counter((r.name, r.status) for r in raws) == target.counts()
    assert target.counts()[("/fail", 500)] > 0  # the simulation's doIf really ran

    # Gatling writes its log in 8 KiB bursts: points come with them, in order, each once
    assert len(seen_while_running) >= 1, "no series point was handed out while Gatling ran"
    seqs = [p.seq for p in seen_while_running]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert result.series[:len(seen_while_running)] == tuple(seen_while_running)


def test_stop_signal_ends_gatling_and_partial_log_parses(tmp_path, target):
    spec = make_spec(tmp_path, target, users=3, duration_s=60)
    command = ADAPTER.prepare(spec)
    assert command.stop.signal == signal.SIGTERM
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    deadline = time.monotonic() + 60
    while reader.builder.count == 0 and time.monotonic() < deadline:
        assert running.proc.poll() is None, running.log()
        reader.poll()
        time.sleep(0.1)
    assert reader.builder.count > 0, running.log()
    code, took = running.stop(timeout=command.stop.grace_s)
    assert took < 5
    outcome = ADAPTER.classify_exit(code)
    assert not outcome.ok and "SIGTERM" in outcome.reason
    result = reader.finish()
    raws = decode_log(the_log(command))
    check_result(result, raws)
    # the records still in Gatling's buffer are lost: the target served at least as many
    assert len(target.served()) >= result.count > 0


def test_command_line_and_parameters(tmp_path):
    spec = RunSpec(work_dir=tmp_path, script_path=ADAPTER.script_filename,
                   parameters={"TOKEN": 's3cret "quoted" \\ x', "USERS": "2"})
    command = ADAPTER.prepare(spec)
    argv = command.argv
    assert argv[0] == "gatling"
    assert argv[1] == f"@{tmp_path / 'perfmon-gatling.args'}"
    assert "-Dgatling.data.enableAnalytics=false" in argv
    assert "-Dgatling.http.warmUpUrl=" in argv
    assert argv[argv.index("--results-folder") + 1] == str(tmp_path / "gatling-results")
    assert "--no-reports" in argv
    assert argv[-1] == str(tmp_path / "simulation.java")
    assert command.output_path == tmp_path / "gatling-results"
    assert not any("s3cret" in a for a in argv)  # values stay out of the process list
    assert stat.S_IMODE((tmp_path / "perfmon-gatling.args").stat().st_mode) == 0o600
    assert command.env["TOKEN"] == 's3cret "quoted" \\ x'
    assert command.stop.signal == signal.SIGTERM
    with pytest.raises(InvalidSpec):
        ADAPTER.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "s.java",
                                parameters={"BAD-NAME": "x"}))


def test_argfile_reads_back_in_java(tmp_path):
    """java's @argfile parsing gives the exact values back as system properties."""
    javac = require_tool("javac")
    source = tmp_path / "Show.java"
    source.write_text(
        "public class Show { public static void main(String[] a) throws Exception {\n"
        "  try (java.io.PrintStream out = new java.io.PrintStream(System.out, true, \"UTF-8\")) {\n"
        "    out.print(System.getProperty(\"V\") + \"|\" + System.getProperty(\"W\")); } } }\n")
    subprocess.run([javac, "-d", str(tmp_path), str(source)], check=True)
    value = ' lead "q" \\b\\\\ tab\there\nnewline é ✓ # not a comment'
    write_argfile(tmp_path / "a.args", {"V": value, "W": ""})
    out = subprocess.run(["java", f"@{tmp_path / 'a.args'}", "-cp", str(tmp_path), "Show"],
                         check=True, capture_output=True)
    assert out.stdout.decode("utf-8") == value + "|"


def test_exit_codes_and_version():
    assert ADAPTER.classify_exit(0).ok
    assert ADAPTER.classify_exit(2).ok and "assertions" in ADAPTER.classify_exit(2).reason
    assert not ADAPTER.classify_exit(1).ok
    assert not ADAPTER.classify_exit(3).ok and "compile" in ADAPTER.classify_exit(3).reason
    assert "SIGTERM" in ADAPTER.classify_exit(143).reason
    assert ADAPTER.version_argv == ["gatling", "--version"]
    assert ADAPTER.detect_version("Gatling 3.15.1\n") == "3.15.1"
    assert ADAPTER.detect_version("nothing") is None
    gatling = require_tool("gatling")
    out = subprocess.run([gatling, "--version"], capture_output=True, text=True, timeout=30)
    assert ADAPTER.detect_version(out.stdout).startswith("3.")


def test_simulation_that_does_not_compile_exits_3(tmp_path):
    gatling = require_tool("gatling")
    script = tmp_path / ADAPTER.script_filename
    script.write_text("public class Broken extends io.gatling.javaapi.core.Simulation { x }\n")
    command = ADAPTER.prepare(RunSpec(work_dir=tmp_path, script_path=script, tool_path=gatling))
    running = proc.start(command)
    code = running.wait(timeout=60)
    assert code == 3 and "does not compile" in ADAPTER.classify_exit(code).reason
    assert ADAPTER.reader(RunSpec(work_dir=tmp_path, script_path=script)).finish().count == 0


# -- synthetic logs: the layout of Gatling 3.15's LogFileDataWriter --------------------------

def _s(text: str) -> bytes:
    raw = text.encode("latin-1", "strict") if all(ord(c) < 256 for c in text) else None
    if not text:
        return struct.pack(">i", 0)
    if raw is not None:
        return struct.pack(">i", len(raw)) + raw + b"\x00"
    raw = text.encode("utf-16-le")
    return struct.pack(">i", len(raw)) + raw + b"\x01"


class LogWriter:
    def __init__(self, version="3.15.1", start_ms=1795396470000):
        self.cache: dict[str, int] = {}
        self.data = (b"\x00" + _s(version) + _s("Sim") + struct.pack(">q", start_ms) + _s("")
                     + struct.pack(">i", 1) + _s("users") + struct.pack(">i", 0))

    def cached(self, text: str) -> bytes:
        if text in self.cache:
            return struct.pack(">i", -self.cache[text])
        self.cache[text] = len(self.cache) + 1
        return struct.pack(">i", self.cache[text]) + _s(text)

    def request(self, name, start, end, ok, message="", groups=()):
        self.data += (b"\x01" + struct.pack(">i", len(groups))
                      + b"".join(self.cached(g) for g in groups) + self.cached(name)
                      + struct.pack(">ii", start, end) + bytes([ok]) + self.cached(message))
        return self

    def user(self, start=True, at=0):
        self.data += b"\x02" + struct.pack(">i", 0) + bytes([start]) + struct.pack(">i", at)
        return self


def sample_log() -> LogWriter:
    return (LogWriter().user(at=1).request("/ok", 10, 22, True)
            .request("/fail", 30, 35, False, "status.find.in([200, 209], 304), found 500")
            .request("ünïcode ✓", 40, 41, True, groups=("g1",))
            .request("/ok", 50, 1050, False, "j.n.ConnectException: Connection refused")
            .user(False, 1100))


def test_reader_decodes_requests_statuses_and_names(tmp_path):
    log = tmp_path / "simulation.log"
    log.write_bytes(sample_log().data)
    reader = ADAPTER.file_reader(log, interval_s=1.0)
    result = reader.finish()
    assert reader.gatling_version == "3.15.1" and reader.simulation == "Sim"
    assert result.count == 4 and result.errors == 2 and not result.partial
    assert result.started_at == pytest.approx(1795396470.010)
    assert result.ended_at == pytest.approx(1795396471.050)
    assert (result.min_ms, result.max_ms) == (1.0, 1000.0)
    raws = decode_log(log)
    assert [(r.name, r.status) for r in raws] == [
        ("/ok", 200), ("/fail", 500), ("g1 / ünïcode ✓", 200), ("/ok", 0)]
    check_result(result, raws)


def test_reader_follows_a_results_folder_and_a_growing_file(tmp_path):
    run_dir = tmp_path / "results" / "sim-20261123"
    run_dir.mkdir(parents=True)
    data = sample_log().data
    reader = ADAPTER.file_reader(tmp_path / "results")
    assert reader.poll() == []  # no log yet
    log = run_dir / "simulation.log"
    for cut in range(0, len(data), 7):  # written a few bytes at a time, cut anywhere
        with open(log, "ab") as f:
            f.write(data[cut:cut + 7])
        reader.poll()
    assert reader.finish().count == 4


def test_truncated_log_is_partial(tmp_path):
    log = tmp_path / "simulation.log"
    log.write_bytes(sample_log().data[:-5])
    result = ADAPTER.file_reader(log).finish()
    assert result.count == 4 and result.partial  # the cut record was the user-end record


@pytest.mark.parametrize("content, reason", [
    (b"RUN\tSim\tsim\t1795396470000\t \t3.9.5\n", "not a Gatling 3.15+ simulation.log"),
    (LogWriter(version="3.10.5").data, "Gatling '3.10.5'"),
    (sample_log().data + b"\x07garbage", "unknown record type 7"),
    (LogWriter().data + b"\x01" + struct.pack(">i", 0) + struct.pack(">i", 5) + _s("x"),
     "new string #5 where #1 was due"),
    (LogWriter().data + b"\x01" + struct.pack(">i", 0) + struct.pack(">i", -3),
     "reference to string #3"),
    (LogWriter().request("/ok", 1, 2, True).data.replace(b"\x00\x00\x00\x02\x01", b"\x00\x00\x00\x02\x09"),
     "boolean"),
    (LogWriter().data + b"\x01" + struct.pack(">i", -1), "implausible item count"),
])
def test_garbage_is_a_parse_error(tmp_path, content, reason):
    log = tmp_path / "simulation.log"
    log.write_bytes(content)
    with pytest.raises(ParseError, match=re.escape(reason)) as err:
        ADAPTER.file_reader(log).finish()
    assert str(log) in str(err.value)


def _big_log(n: int) -> bytes:
    writer = LogWriter()
    for i in range(n):
        writer.request(f"/p{i % 5}", i * 10, i * 10 + 5 + i % 30, i % 7 != 0,
                       "" if i % 7 else "status.find.in([200, 209], 304), found 500")
    return writer.data


def test_mangled_log_is_read_or_refused_never_crashes(tmp_path):
    assert_read_or_refused(ADAPTER, _big_log(150), tmp_path, ".log")


def test_reading_in_random_pieces_equals_reading_at_once(tmp_path):
    expected, result, polled = read_in_random_pieces(ADAPTER, _big_log(300), tmp_path, ".log")
    assert result == expected and result.count == 300 and not result.partial
    assert polled and result.series[:len(polled)] == tuple(polled)
