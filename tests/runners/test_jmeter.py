"""JMeter run for real against the local target; figures checked against the raw CSV
JTL parsed here with the csv module (independent of the adapter's reader) and
against what the target served."""

import csv
import signal
import stat
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.adapters.jmeter import write_properties
from runners.errors import InvalidSpec, ParseError
from tests.runners import proc
from tests.runners.conftest import require_tool
from tests.runners.exact import Raw, check_result
from tests.runners.robustness import assert_read_or_refused, read_in_random_pieces

ADAPTER = get_adapter("jmeter")


def _sampler(path: str) -> str:
    return f"""
        <HTTPSamplerProxy guiclass="HttpTestSampleGui" testclass="HTTPSamplerProxy" testname="{path}">
          <stringProp name="HTTPSampler.domain">127.0.0.1</stringProp>
          <stringProp name="HTTPSampler.port">${{__P(TARGET_PORT)}}</stringProp>
          <stringProp name="HTTPSampler.protocol">http</stringProp>
          <stringProp name="HTTPSampler.path">{path}</stringProp>
          <stringProp name="HTTPSampler.method">GET</stringProp>
          <boolProp name="HTTPSampler.use_keepalive">true</boolProp>
        </HTTPSamplerProxy>
        <hashTree/>"""


# THREADS users loop over /mixed, /ok, /slow?ms=30 and (every 4th loop) /fail for
# DURATION seconds or LOOPS loops, whichever ends first, pausing PAUSE_MS per loop.
PLAN = f"""<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3">
  <hashTree>
    <TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="perfmon test plan"/>
    <hashTree>
      <ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="users">
        <stringProp name="ThreadGroup.num_threads">${{__P(THREADS,2)}}</stringProp>
        <stringProp name="ThreadGroup.ramp_time">0</stringProp>
        <boolProp name="ThreadGroup.scheduler">true</boolProp>
        <stringProp name="ThreadGroup.duration">${{__P(DURATION,3)}}</stringProp>
        <stringProp name="ThreadGroup.delay"></stringProp>
        <stringProp name="ThreadGroup.on_sample_error">continue</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController"
                     guiclass="LoopControlPanel" testclass="LoopController">
          <stringProp name="LoopController.loops">${{__P(LOOPS,-1)}}</stringProp>
          <boolProp name="LoopController.continue_forever">false</boolProp>
        </elementProp>
      </ThreadGroup>
      <hashTree>
        <ConstantTimer guiclass="ConstantTimerGui" testclass="ConstantTimer" testname="pause">
          <stringProp name="ConstantTimer.delay">${{__P(PAUSE_MS,0)}}</stringProp>
        </ConstantTimer>
        <hashTree/>{_sampler("/mixed")}{_sampler("/ok")}{_sampler("/slow?ms=30")}
        <IfController guiclass="IfControllerPanel" testclass="IfController" testname="every 4th">
          <stringProp name="IfController.condition">${{__jexl3(${{__counter(TRUE,)}} % 4 == 0)}}</stringProp>
          <boolProp name="IfController.evaluateAll">false</boolProp>
          <boolProp name="IfController.useExpression">true</boolProp>
        </IfController>
        <hashTree>{_sampler("/fail")}
        </hashTree>
      </hashTree>
    </hashTree>
  </hashTree>
</jmeterTestPlan>
"""


def raw_samples(path: Path) -> list[Raw]:
    """The JTL's samples, read with the csv module: timeStamp is the START in epoch ms."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [Raw(start=int(r["timeStamp"]) / 1000, ms=float(r["elapsed"]),
                status=int(r["responseCode"]) if r["responseCode"].isdigit() else 0,
                failed=r["success"] != "true", name=r["label"]) for r in rows]


def make_spec(tmp_path, target, *, threads=2, duration=3, loops=-1, pause_ms=0,
              interval_s=5.0):
    jmeter = require_tool("jmeter")
    script = tmp_path / ADAPTER.script_filename
    script.write_text(PLAN)
    params = {"TARGET_PORT": str(target.port), "THREADS": str(threads),
              "DURATION": str(duration), "LOOPS": str(loops), "PAUSE_MS": str(pause_ms)}
    return RunSpec(work_dir=tmp_path, script_path=script, parameters=params, tool_path=jmeter,
                   interval_s=interval_s)


def test_run_matches_raw_jtl_and_series_appear_while_running(tmp_path, target):
    spec = make_spec(tmp_path, target, threads=3, duration=5, pause_ms=5, interval_s=1.0)
    command = ADAPTER.prepare(spec)
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    seen_while_running = []
    deadline = time.monotonic() + 40
    while running.proc.poll() is None and time.monotonic() < deadline:
        seen_while_running += reader.poll(now=time.time())
        time.sleep(0.2)
    code = running.wait(timeout=15)
    assert ADAPTER.classify_exit(code).ok, running.log()
    result = reader.finish()

    raws = raw_samples(command.output_path)
    check_result(result, raws)
    assert result.errors > 0 and result.count > result.errors  # the mix really was mixed
    assert not result.partial
    # JMeter's view agrees with what the target served, path by path and status
    assert Counter((r.name.split("?")[0], r.status) for r in raws) == target.counts()
    assert target.counts()[("/fail", 500)] > 0  # the plan's If Controller really ran

    assert len(seen_while_running) >= 2, "no series point was handed out while JMeter ran"
    seqs = [p.seq for p in seen_while_running]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # in order, each once
    assert any(p.count > 0 for p in seen_while_running)
    assert result.series[:len(seen_while_running)] == tuple(seen_while_running)


def test_stop_signal_ends_jmeter_and_partial_jtl_parses(tmp_path, target):
    # SIGINT behaves the same (exit 130); only the policy's signal is run here to save time
    spec = make_spec(tmp_path, target, threads=2, duration=60, pause_ms=10)
    command = ADAPTER.prepare(spec)
    assert command.stop.signal == signal.SIGTERM
    reader = ADAPTER.reader(spec)
    running = proc.start(command)
    deadline = time.monotonic() + 30
    while reader.builder.count < 20 and time.monotonic() < deadline:
        assert running.proc.poll() is None, running.log()
        reader.poll()
        time.sleep(0.1)
    assert reader.builder.count >= 20, running.log()
    code, took = running.stop(timeout=command.stop.grace_s)
    assert took < 5
    outcome = ADAPTER.classify_exit(code)
    assert not outcome.ok and "SIGTERM" in outcome.reason
    result = reader.finish()
    raws = raw_samples(command.output_path)
    check_result(result, raws)
    assert result.count >= 20
    time.sleep(0.2)  # let the target's handler threads record what they were answering
    # samples in flight at the signal are lost: the target may have served a few more
    assert 0 <= len(target.served()) - result.count <= 2


def test_command_line_and_parameters(tmp_path):
    spec = RunSpec(work_dir=tmp_path, script_path=ADAPTER.script_filename,
                   parameters={"TOKEN": "s3cret: x=1 \\ é", "THREADS": "2"})
    command = ADAPTER.prepare(spec)
    argv = command.argv
    assert argv[:3] == ["jmeter", "-n", "-t"]
    assert argv[3] == str(tmp_path / "plan.jmx")
    assert argv[argv.index("-l") + 1] == str(tmp_path / "jmeter-results.jtl")
    assert command.output_path == tmp_path / "jmeter-results.jtl"
    assert "-Jjmeter.save.saveservice.output_format=csv" in argv
    assert "-Jjmeter.save.saveservice.autoflush=true" in argv
    assert "-Jjmeterengine.nongui.port=0" in argv
    assert not any("s3cret" in a for a in argv)  # values stay out of the process list
    props = Path(argv[argv.index("-q") + 1])
    assert stat.S_IMODE(props.stat().st_mode) == 0o600
    assert "TOKEN=s3cret\\: x\\=1 \\\\ \\u00e9\n" in props.read_text()
    assert command.env == {"TOKEN": "s3cret: x=1 \\ é", "THREADS": "2"}
    assert command.stop.signal == signal.SIGTERM
    with pytest.raises(InvalidSpec):
        ADAPTER.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "plan.jmx",
                                parameters={"BAD-NAME": "x"}))


def test_properties_file_reads_back_in_java(tmp_path):
    """The escaping is what java.util.Properties.load undoes (checked with the JDK)."""
    javac = require_tool("javac")
    source = tmp_path / "Load.java"
    source.write_text(
        "import java.io.*; import java.util.*;\n"
        "public class Load { public static void main(String[] a) throws Exception {\n"
        "  Properties p = new Properties(); p.load(new FileInputStream(a[0]));\n"
        "  try (PrintStream out = new PrintStream(System.out, true, \"UTF-8\")) {\n"
        "    out.print(p.getProperty(\"V\")); } } }\n")
    subprocess.run([javac, "-d", str(tmp_path), str(source)], check=True)
    value = " lead: a=b #c !d \\e\tf\nnewline é ✓ 😀"
    write_properties(tmp_path / "p.properties", {"V": value})
    out = subprocess.run(["java", "-cp", str(tmp_path), "Load", str(tmp_path / "p.properties")],
                         check=True, capture_output=True)
    assert out.stdout.decode("utf-8") == value


def test_exit_codes_and_version():
    assert ADAPTER.classify_exit(0).ok
    assert not ADAPTER.classify_exit(1).ok and "plan" in ADAPTER.classify_exit(1).reason
    assert "SIGTERM" in ADAPTER.classify_exit(143).reason
    assert ADAPTER.classify_exit(-15).reason == "killed by signal SIGTERM"
    assert ADAPTER.version_argv == ["jmeter", "-j", "/dev/null", "--version"]
    banner = ("    _    ____   _    ____ _   _ _____       _ __  __ _____ _____ _____ ____\n"
              "/_/   \\_\\_| /_/   \\_\\____|_| |_|_____|  \\___/|_|  |_|_____| |_| |_____|_| \\_\\ 5.6.3\n"
              "\nCopyright (c) 1999-2024 The Apache Software Foundation\n")
    assert ADAPTER.detect_version(banner) == "5.6.3"
    assert ADAPTER.detect_version("nothing") is None


HEADER = ("timeStamp,elapsed,label,responseCode,threadName,dataType,success,bytes,sentBytes,"
          "grpThreads,allThreads,URL,Latency,IdleTime,Connect\n")
ROW = "1795396470367,81,/mixed,200,users 1-2,text,true,114,123,3,3,http://127.0.0.1:1/mixed,73,0,44\n"
NO_RESPONSE = ('1795396470400,3,"GET /a, b",Non HTTP response code: java.net.ConnectException,'
               'users 1-1,text,false,0,0,1,1,http://127.0.0.1:1/a,0,0,3\n')


def test_reader_reads_statuses_quotes_and_multiline_fields(tmp_path):
    out = tmp_path / "r.jtl"
    out.write_text(HEADER + ROW + NO_RESPONSE + ROW.replace(",/mixed,", ',"two\nlines ""q""",')
                   .replace(",200,", ",500,"))
    result = ADAPTER.file_reader(out, interval_s=1.0).finish()
    assert result.count == 3 and result.errors == 2
    assert result.started_at == pytest.approx(1795396470.367)
    assert result.ended_at == pytest.approx(1795396470.448)
    assert result.max_ms == 81 and result.min_ms == 3


@pytest.mark.parametrize("content, line", [
    ("garbage\n", 1),                                                   # no header
    ('<?xml version="1.0"?>\n<testResults>\n', 1),                      # XML JTL
    (HEADER + ROW + "1795396470367,81\n" + ROW, 3),                     # cut mid-file
    (HEADER + ROW.replace("1795396470367", "2026/11/23 01:14:30.367"), 2),
    (HEADER + ROW.replace(",81,", ",fast,"), 2),
    (HEADER + ROW.replace(",true,", ",maybe,"), 2),
    (HEADER.encode() + b"\x00\x01\x02\xff,,\n", 2),
    (b"\x00\x00\x00\x00\x063.15.1\x00 binary, no newline", 1),
    ("timeStamp,elapsed,lab", 1),                                       # cut header only
])
def test_garbage_is_a_parse_error(tmp_path, content, line):
    out = tmp_path / "r.jtl"
    out.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ParseError) as err:
        ADAPTER.file_reader(out).finish()
    assert err.value.line == line and str(out) in str(err.value)


def test_truncated_tail_is_partial(tmp_path):
    out = tmp_path / "r.jtl"
    out.write_text(HEADER + ROW + ROW[:20])
    result = ADAPTER.file_reader(out).finish()
    assert result.count == 1 and result.partial


def test_file_ending_inside_a_quoted_field_is_a_parse_error(tmp_path):
    out = tmp_path / "r.jtl"
    out.write_text(HEADER + ROW + ROW.replace(",/mixed,", ',"open\n'))
    with pytest.raises(ParseError, match="quoted field"):
        ADAPTER.file_reader(out).finish()


def _jtl(n: int) -> bytes:
    """n samples in completion order, every 5th without a response."""
    rows = []
    for i in range(n):
        stamp, row = 1795396470400 + i * 13, (NO_RESPONSE if i % 5 == 0 else ROW)
        rows.append(",".join([str(stamp), str(i % 90)] + row.split(",")[2:]))
    return (HEADER + "".join(rows)).encode()


def test_mangled_jtl_is_read_or_refused_never_crashes(tmp_path):
    assert_read_or_refused(ADAPTER, _jtl(150), tmp_path, ".jtl")


def test_reading_in_random_pieces_equals_reading_at_once(tmp_path):
    expected, result, polled = read_in_random_pieces(ADAPTER, _jtl(200), tmp_path, ".jtl")
    assert result == expected and result.count == 200
    assert result.series[:len(polled)] == tuple(polled)
