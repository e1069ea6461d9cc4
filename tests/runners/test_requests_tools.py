"""The per-request breakdown of Locust, JMeter, Artillery, Gatling and custom streams.

Each real run sends three request names to paths of distinct latency and
status (``home`` /ok 200, ``report`` /slow?ms=30 200, ``login`` /fail 500),
some tools a fourth to a closed port (no response). Every name's entry is
checked against the tool's raw per-request output, read here without
runners' readers: its count (and what the target served on its path), its
status codes, its errors and causes (the tool's message, else ``HTTP
<status>``), its method where the tool reports one, and its percentiles,
exact within HDR precision.
"""

from __future__ import annotations

import csv
import json
import socket
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.stream import StreamReader, check_line, header_line, request_line
from tests.runners import proc
from tests.runners.conftest import require_tool
from tests.runners.exact import assert_within_hdr, exact_percentile
from tests.runners.test_gatling import decode_log

PATHS = {"home": "/ok", "report": "/slow", "login": "/fail"}


@dataclass(frozen=True)
class Sample:
    """One request as the test reads it from a tool's raw output."""

    ms: float
    status: int
    failed: bool
    method: str = ""
    message: str = ""

    @property
    def error(self) -> bool:
        return self.failed or self.status >= 400 or self.status == 0

    @property
    def cause(self) -> str:
        if self.message:
            return self.message
        return "no response" if self.status == 0 else f"HTTP {self.status}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_entries(result, raw: dict[str, list[Sample]], target) -> dict:
    """Assert every name's entry against its raw samples and the target; return the entries."""
    entries = {entry.name: entry for entry in result.requests}
    assert set(entries) == set(raw), (sorted(entries), sorted(raw))
    served = Counter(s.path for s in target.served())
    for name, samples in raw.items():
        entry = entries[name]
        assert entry.count == len(samples), name
        if name in PATHS:
            assert entry.count == served[PATHS[name]], name
        assert entry.status_codes == {str(k): n for k, n in Counter(s.status for s in samples).items()}, name
        assert entry.errors == sum(s.error for s in samples), name
        assert entry.causes == dict(Counter(s.cause for s in samples if s.error)), name
        assert entry.method == samples[0].method, name
        values = [s.ms for s in samples]
        assert (entry.min_ms, entry.max_ms) == (min(values), max(values)), name
        for q in (50, 90, 95, 99):
            assert_within_hdr(getattr(entry, f"p{q}_ms"), exact_percentile(values, q), f"{name} p{q}")
    assert sum(entry.count for entry in entries.values()) == result.count
    return entries


def stream_samples(path: Path) -> dict[str, list[Sample]]:
    """Request lines of a perfmon result stream, by name, read with plain json."""
    out = defaultdict(list)
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "perfmon_stream" in obj or "check" in obj:
            continue
        out[obj["name"]].append(Sample(obj["ms"], obj["status"], not obj["ok"], obj.get("method", ""),
                                       obj.get("error", "")))
    return dict(out)


def stream_checks(path: Path) -> dict:
    out: dict = {}
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "check" in obj:
            figures = out.setdefault(obj["check"], {"passes": 0, "fails": 0})
            figures["passes" if obj["ok"] else "fails"] += obj.get("count", 1)
    return out


# --- Locust -------------------------------------------------------------------------------

LOCUSTFILE = """
import itertools
import os
from locust import HttpUser, constant, task

logins = itertools.count()

class Visitor(HttpUser):
    host = os.environ["TARGET"]
    wait_time = constant(0.005)

    @task(4)
    def home(self):
        self.client.get("/ok", name="home")

    @task(2)
    def report(self):
        self.client.get("/slow?ms=30", name="report")

    @task(2)
    def login(self):
        # every other one judged by the script, the rest failed by Locust for their 500
        with self.client.post("/fail", name="login", data="x", catch_response=True) as response:
            if next(logins) % 2:
                response.failure("login refused")
"""


def test_locust_run_gives_each_request_name_exact_figures(tmp_path, target):
    adapter = get_adapter("locust")
    script = tmp_path / adapter.script_filename
    script.write_text(LOCUSTFILE)
    spec = RunSpec(work_dir=tmp_path, script_path=script, tool_path=require_tool("locust"),
                   parameters={"TARGET": target.base_url, "LOCUST_USERS": "3", "LOCUST_RUN_TIME": "3s"})
    command = adapter.prepare(spec)
    running = proc.start(command)
    assert adapter.classify_exit(running.wait(timeout=60)).ok, running.log()[-3000:]
    result = adapter.reader(spec).finish()

    raw = stream_samples(Path(command.output_path))
    entries = check_entries(result, raw, target)
    assert {name: entry.method for name, entry in entries.items()} == {"home": "GET", "report": "GET",
                                                                        "login": "POST"}
    login = entries["login"]
    assert login.errors == login.count > 4 and login.status_codes == {"500": login.count}
    # the failure texts of Locust's own statistics: the script's, and Locust's for the status
    assert set(login.causes) == {"CatchResponseError('login refused')",
                                 "HTTPError('500 Server Error: Internal Server Error for url: login')"}
    assert abs(login.causes["CatchResponseError('login refused')"] - login.count / 2) <= 1
    assert entries["home"].errors == 0 and entries["home"].p50_ms < 30 <= entries["report"].p50_ms
    assert result.checks == {}


# --- JMeter -------------------------------------------------------------------------------

def _sampler(label: str, path: str, method: str = "GET", port: str = "${__P(TARGET_PORT)}",
             children: str = "") -> str:
    return f"""
        <HTTPSamplerProxy guiclass="HttpTestSampleGui" testclass="HTTPSamplerProxy" testname="{label}">
          <stringProp name="HTTPSampler.domain">127.0.0.1</stringProp>
          <stringProp name="HTTPSampler.port">{port}</stringProp>
          <stringProp name="HTTPSampler.protocol">http</stringProp>
          <stringProp name="HTTPSampler.path">{path}</stringProp>
          <stringProp name="HTTPSampler.method">{method}</stringProp>
          <boolProp name="HTTPSampler.use_keepalive">true</boolProp>
        </HTTPSamplerProxy>
        <hashTree>{children}</hashTree>"""


CODE_IS_200 = """
          <ResponseAssertion guiclass="AssertionGui" testclass="ResponseAssertion" testname="login is 200">
            <collectionProp name="Asserion.test_strings">
              <stringProp name="49586">200</stringProp>
            </collectionProp>
            <stringProp name="Assertion.custom_message"></stringProp>
            <stringProp name="Assertion.test_field">Assertion.response_code</stringProp>
            <boolProp name="Assertion.assume_success">false</boolProp>
            <intProp name="Assertion.test_type">8</intProp>
          </ResponseAssertion>
          <hashTree/>"""

# THREADS threads x LOOPS loops of: home, report, login (asserted 200: fails), refused.
JMETER_PLAN = f"""<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3">
  <hashTree>
    <TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="breakdown"/>
    <hashTree>
      <ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="users">
        <stringProp name="ThreadGroup.num_threads">${{__P(THREADS,2)}}</stringProp>
        <stringProp name="ThreadGroup.ramp_time">0</stringProp>
        <boolProp name="ThreadGroup.scheduler">false</boolProp>
        <stringProp name="ThreadGroup.on_sample_error">continue</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController"
                     guiclass="LoopControlPanel" testclass="LoopController">
          <stringProp name="LoopController.loops">${{__P(LOOPS,1)}}</stringProp>
          <boolProp name="LoopController.continue_forever">false</boolProp>
        </elementProp>
      </ThreadGroup>
      <hashTree>{_sampler("home", "/ok")}{_sampler("report", "/slow?ms=30")}{
          _sampler("login", "/fail", "POST", children=CODE_IS_200)}{
          _sampler("refused", "/nowhere", port="${__P(CLOSED_PORT)}")}
      </hashTree>
    </hashTree>
  </hashTree>
</jmeterTestPlan>
"""


def jtl_samples(path: Path) -> dict[str, list[Sample]]:
    """The JTL's samples by label, read with the csv module; the message as JMeter gives it."""
    out = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            code = row["responseCode"]
            status = int(code) if code.isdigit() else 0
            failed = row["success"] != "true"
            message = row["failureMessage"].strip()
            if not message and status == 0:
                message = (code.removeprefix("Non HTTP response code: ") + ": "
                           + row["responseMessage"].removeprefix("Non HTTP response message: "))
            out[row["label"]].append(Sample(float(row["elapsed"]), status, failed, "", message))
    return dict(out)


def test_jmeter_run_gives_each_sample_label_exact_figures(tmp_path, target):
    adapter = get_adapter("jmeter")
    script = tmp_path / adapter.script_filename
    script.write_text(JMETER_PLAN)
    threads, loops = 2, 15
    spec = RunSpec(work_dir=tmp_path, script_path=script, tool_path=require_tool("jmeter"),
                   parameters={"TARGET_PORT": str(target.port), "CLOSED_PORT": str(closed_port()),
                               "THREADS": str(threads), "LOOPS": str(loops)})
    command = adapter.prepare(spec)
    running = proc.start(command)
    assert adapter.classify_exit(running.wait(timeout=120)).ok, running.log()[-3000:]
    result = adapter.reader(spec).finish()

    raw = jtl_samples(Path(command.output_path))
    entries = check_entries(result, raw, target)
    n = threads * loops
    assert {name: entry.count for name, entry in entries.items()} == dict.fromkeys(
        ("home", "report", "login", "refused"), n)
    login = entries["login"]
    # the Response Assertion's message as JMeter writes it, over several lines (some blank) in the JTL
    assert login.causes == {"Test failed: code expected to equal /\n\n****** received  : [[[5]]]00\n\n"
                            "****** comparison: [[[2]]]00\n\n/": n}
    (refused,) = entries["refused"].causes
    assert "Connection refused" in refused and entries["refused"].status_codes == {"0": n}
    assert entries["home"].errors == entries["report"].errors == 0
    assert entries["home"].p50_ms < 30 <= entries["report"].p50_ms  # a JVM warms up: p50, not p99
    assert all(entry.method == "" for entry in entries.values())  # a CSV JTL has no method


# --- Artillery -----------------------------------------------------------------------------

ARTILLERY_SCRIPT = """\
config:
  target: "http://127.0.0.1:9"
  phases:
    - duration: 2
      arrivalCount: {vusers}
  plugins:
    expect: {{}}
scenarios:
  - flow:
      - get:
          url: "/ok"
          name: "home"
          expect:
            - statusCode: 200
      - get:
          url: "/slow?ms=30"
          name: "report"
      - post:
          url: "/fail"
          name: "login"
          body: "x"
          expect:
            - statusCode: 200
      - get:
          url: "http://127.0.0.1:{closed_port}/refused"
          name: "refused"
"""


def test_artillery_run_gives_each_request_name_exact_figures(tmp_path, target):
    adapter = get_adapter("artillery")
    script = tmp_path / adapter.script_filename
    vusers = 15
    script.write_text(ARTILLERY_SCRIPT.format(vusers=vusers, closed_port=closed_port()))
    spec = RunSpec(work_dir=tmp_path, script_path=script, tool_path=require_tool("artillery"),
                   parameters={"TARGET": target.base_url})
    command = adapter.prepare(spec)
    running = proc.start(command)
    code = running.wait(timeout=60)
    # exit 21: the expect plugin saw failed expectations; the run executed
    assert code == 21 and adapter.classify_exit(code).ok, running.log()[-3000:]
    result = adapter.reader(spec).finish()

    out = Path(command.output_path)
    raw = stream_samples(out)
    entries = check_entries(result, raw, target)
    assert {name: entry.count for name, entry in entries.items()} == dict.fromkeys(
        ("home", "report", "login", "refused"), vusers)
    assert {name: entry.method for name, entry in entries.items()} == {
        "home": "GET", "report": "GET", "login": "POST", "refused": "GET"}
    assert entries["login"].causes == {"HTTP 500": vusers}  # Artillery gives a 500 no error of its own
    assert entries["refused"].causes == {"ECONNREFUSED": vusers}  # its errors.ECONNREFUSED
    assert entries["report"].p50_ms >= 30
    assert result.checks == stream_checks(out) == {
        "home: statusCode 200": {"passes": vusers, "fails": 0},
        "login: statusCode 200": {"passes": 0, "fails": vusers},
    }


# --- Gatling -------------------------------------------------------------------------------

GATLING_SIMULATION = """
import static io.gatling.javaapi.core.CoreDsl.*;
import static io.gatling.javaapi.http.HttpDsl.*;

import io.gatling.javaapi.core.*;
import io.gatling.javaapi.http.*;

public class BreakdownSimulation extends Simulation {
  HttpProtocolBuilder protocol = http.baseUrl(System.getProperty("BASE_URL"));

  ScenarioBuilder users = scenario("users")
      .repeat(Integer.getInteger("LOOPS", 1)).on(
          exec(http("home").get("/ok")),
          exec(http("report").get("/slow?ms=30")),
          exec(http("login").post("/fail").body(StringBody("x"))));

  {
    setUp(users.injectOpen(atOnceUsers(Integer.getInteger("USERS", 2)))).protocols(protocol);
  }
}
"""


def test_gatling_run_gives_each_request_name_exact_figures(tmp_path, target):
    adapter = get_adapter("gatling")
    script = tmp_path / adapter.script_filename
    script.write_text(GATLING_SIMULATION)
    users, loops = 2, 15
    spec = RunSpec(work_dir=tmp_path, script_path=script, tool_path=require_tool("gatling"),
                   parameters={"BASE_URL": target.base_url, "USERS": str(users), "LOOPS": str(loops)})
    command = adapter.prepare(spec)
    running = proc.start(command)
    assert adapter.classify_exit(running.wait(timeout=240)).ok, running.log()[-3000:]
    result = adapter.reader(spec).finish()

    (log,) = Path(command.output_path).glob("*/simulation.log")
    raw = defaultdict(list)
    for r in decode_log(log):
        raw[r.name].append(Sample(r.ms, r.status, r.failed, "", r.message if r.failed else ""))
    entries = check_entries(result, dict(raw), target)
    n = users * loops
    assert {name: entry.count for name, entry in entries.items()} == dict.fromkeys(("home", "report", "login"), n)
    # the KO message, as Gatling's report lists it
    assert entries["login"].causes == {"status.find.in([200, 209], 304), found 500": n}
    assert entries["report"].p50_ms >= 30 and entries["home"].errors == 0


# --- custom: the stream's method, error and check lines ------------------------------------

T0 = 1_700_000_000.0


def test_stream_lines_carry_method_error_and_checks(tmp_path):
    out = tmp_path / "s.ndjson"
    lines = [header_line(tool="probe")]
    lines += [request_line(T0 + i, 5 + i, 200, name="home", method="GET") for i in range(10)]
    lines += [request_line(T0 + i, 50, 0, ok=False, name="login", method="POST", error="connect timeout")
              for i in range(3)]
    lines += [request_line(T0, 9, 503, name="login", method="POST"), check_line("token present", True, 9),
              check_line("token present", False), json.dumps({"check": "body ok", "ok": True}) + "\n",
              # an older writer's line: no method, no error, a null name
              json.dumps({"t": T0, "ms": 1, "status": 500, "name": None}) + "\n"]
    out.write_text("".join(lines))
    result = StreamReader(out).finish()

    entries = {(e.name, e.method): e for e in result.requests}
    assert set(entries) == {("home", "GET"), ("login", "POST"), ("", "")}
    assert entries[("login", "POST")].causes == {"connect timeout": 3, "HTTP 503": 1}
    assert entries[("", "")].causes == {"HTTP 500": 1}
    assert entries[("home", "GET")].p99_ms == 14
    assert result.checks == {"token present": {"passes": 9, "fails": 1}, "body ok": {"passes": 1, "fails": 0}}


def test_stream_refuses_malformed_method_error_and_check_lines(tmp_path):
    from runners.errors import ParseError

    bad_lines = [
        json.dumps({"t": T0, "ms": 1, "status": 200, "method": 7}),
        json.dumps({"t": T0, "ms": 1, "status": 500, "error": ["x"]}),
        json.dumps({"check": 3, "ok": True}),
        json.dumps({"check": "c"}),
        json.dumps({"check": "c", "ok": True, "count": 0}),
    ]
    for line in bad_lines:
        out = tmp_path / "bad.ndjson"
        out.write_text(header_line() + line + "\n")
        try:
            StreamReader(out).finish()
        except ParseError:
            continue
        raise AssertionError(f"accepted {line}")
