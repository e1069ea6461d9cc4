"""Split runs for Locust and JMeter: each part's piece of the users or threads.

The unit tests check the command line, properties and environment of the
parts of a 2-way equal split and of a 3/5 + 2/5 split, and check_split's
refusals. The real runs start every part of a 2-part split at once against
one local target and check, from each tool's own output and from what the
target served, that the parts ran 1 and 2 users (threads) of 3 and that each
part's script saw its part.
"""

import csv
import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.adapters.jmeter import PROPERTIES_FILENAME, is_thread_parameter
from runners.errors import InvalidSpec
from runners.split import Split
from tests.runners import proc
from tests.runners.conftest import require_tool

LOCUST = get_adapter("locust")
JMETER = get_adapter("jmeter")

EQUAL = [Split.equal(0, 2), Split.equal(1, 2)]
SIXTY_FORTY = [Split(0, (Fraction(3, 5), Fraction(2, 5))), Split(1, (Fraction(3, 5), Fraction(2, 5)))]


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def j_properties(argv: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in argv if a.startswith("-J"))


def read_properties(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


# --- Locust: the command of a part ------------------------------------------------------

def locust_part(tmp_path, split, **parameters):
    work = tmp_path / f"part{split.index}"
    work.mkdir(exist_ok=True)
    return LOCUST.prepare(RunSpec(work_dir=work, script_path=work / "locustfile.py",
                                  parameters=parameters, split=split))


def test_locust_equal_parts_split_users_and_spawn_rate(tmp_path):
    commands = [locust_part(tmp_path, s, LOCUST_USERS="3", LOCUST_SPAWN_RATE="3") for s in EQUAL]
    assert [flag(c.argv, "-u") for c in commands] == ["1", "2"]
    assert [flag(c.argv, "-r") for c in commands] == ["1.5", "1.5"]
    assert [c.env["LOCUST_USERS"] for c in commands] == ["1", "2"]
    assert [c.env["LOCUST_SPAWN_RATE"] for c in commands] == ["1.5", "1.5"]
    for index, command in enumerate(commands):
        assert command.env["PERFMON_PART_INDEX"] == str(index)
        assert command.env["PERFMON_PART_COUNT"] == "2"
        assert command.env["PERFMON_PART_SHARE"] == "0.5"
        assert command.env["PERFMON_EXECUTION_SEGMENT"] == ["0:1/2", "1/2:1"][index]
        assert command.env["PERFMON_EXECUTION_SEGMENT_SEQUENCE"] == "0,1/2,1"


def test_locust_sixty_forty_parts(tmp_path):
    commands = [locust_part(tmp_path, s, LOCUST_USERS="5", LOCUST_SPAWN_RATE="10") for s in SIXTY_FORTY]
    assert [flag(c.argv, "-u") for c in commands] == ["3", "2"]
    assert [flag(c.argv, "-r") for c in commands] == ["6", "4"]
    assert [c.env["PERFMON_PART_SHARE"] for c in commands] == ["0.6", "0.4"]
    # without LOCUST_SPAWN_RATE each part starts all of its own users in the first second
    commands = [locust_part(tmp_path, s, LOCUST_USERS="7") for s in SIXTY_FORTY]
    assert [(flag(c.argv, "-u"), flag(c.argv, "-r")) for c in commands] == [("4", "4"), ("3", "3")]
    assert all("LOCUST_SPAWN_RATE" not in c.env for c in commands)
    # the pieces always add up to the whole
    for users in range(2, 40):
        assert sum(int(flag(locust_part(tmp_path, s, LOCUST_USERS=str(users)).argv, "-u"))
                   for s in SIXTY_FORTY) == users


def test_locust_without_split_is_unchanged(tmp_path):
    command = LOCUST.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "l.py",
                                     parameters={"LOCUST_USERS": "3"}))
    assert flag(command.argv, "-u") == "3" and flag(command.argv, "-r") == "3"
    assert not any(name.startswith("PERFMON_PART") for name in command.env)


def test_locust_check_split_refuses_a_part_without_users(tmp_path):
    with pytest.raises(InvalidSpec) as err:
        LOCUST.check_split({"LOCUST_USERS": "1"}, EQUAL[0])
    assert str(err.value) == ("LOCUST_USERS=1 cannot be split over 2 parts: "
                              "every part needs at least one user")
    with pytest.raises(InvalidSpec, match="LOCUST_USERS=1 cannot be split over 2 parts"):
        LOCUST.check_split({}, EQUAL[1])  # the default is one user
    with pytest.raises(InvalidSpec, match="LOCUST_USERS=2 cannot be split over 3 parts"):
        LOCUST.check_split({"LOCUST_USERS": "2"}, Split.equal(2, 3))
    # 1 of 3/5 + 2/5 would be floor(3/5) = 0 users for the first part
    with pytest.raises(InvalidSpec, match="LOCUST_USERS=1"):
        LOCUST.check_split({"LOCUST_USERS": "1"}, SIXTY_FORTY[1])
    with pytest.raises(InvalidSpec, match="LOCUST_USERS"):
        LOCUST.check_split({"LOCUST_USERS": "many"}, EQUAL[0])
    # prepare refuses it too, for either part
    with pytest.raises(InvalidSpec, match="at least one user"):
        locust_part(tmp_path, EQUAL[1], LOCUST_USERS="1")
    LOCUST.check_split({"LOCUST_USERS": "2"}, SIXTY_FORTY[0])  # 1 + 1: accepted


# --- JMeter: the command of a part ------------------------------------------------------

def jmeter_part(tmp_path, split, **parameters):
    work = tmp_path / f"part{split.index}"
    work.mkdir(exist_ok=True)
    return JMETER.prepare(RunSpec(work_dir=work, script_path=work / "plan.jmx",
                                  parameters=parameters, split=split))


def test_jmeter_thread_parameters_are_named_threads():
    for name in ("threads", "THREADS", "Threads", "login_threads", "CHECKOUT_THREADS"):
        assert is_thread_parameter(name), name
    for name in ("MAXTHREADS", "THREADS_MAX", "thread", "RAMP_UP", "users"):
        assert not is_thread_parameter(name), name


def test_jmeter_equal_parts_split_threads_and_name_the_part(tmp_path):
    commands = [jmeter_part(tmp_path, s, THREADS="3", DURATION="60", TOKEN="s3cret")
                for s in EQUAL]
    for index, command in enumerate(commands):
        props = read_properties(Path(flag(command.argv, "-q")))
        assert props == {"THREADS": ["1", "2"][index], "DURATION": "60", "TOKEN": "s3cret"}
        j = j_properties(command.argv)
        assert (j["perfmon.part.index"], j["perfmon.part.count"], j["perfmon.part.share"]) == \
            (str(index), "2", "0.5")
        assert j["jmeter.save.saveservice.output_format"] == "csv"  # the result settings stay
        assert command.env["THREADS"] == ["1", "2"][index]
        assert command.env["DURATION"] == "60"
        assert command.env["PERFMON_PART_INDEX"] == str(index)
        assert command.env["PERFMON_PART_SHARE"] == "0.5"
        assert not any("s3cret" in a for a in command.argv)
    # the part's properties are not written into the parameters' file
    assert "perfmon" not in (tmp_path / "part0" / PROPERTIES_FILENAME).read_text().replace(
        "# written by perfmon", "")


def test_jmeter_sixty_forty_parts(tmp_path):
    commands = [jmeter_part(tmp_path, s, THREADS="5", login_threads="7", RAMP="10")
                for s in SIXTY_FORTY]
    props = [read_properties(Path(flag(c.argv, "-q"))) for c in commands]
    assert [(p["THREADS"], p["login_threads"], p["RAMP"]) for p in props] == \
        [("3", "4", "10"), ("2", "3", "10")]
    assert [j_properties(c.argv)["perfmon.part.share"] for c in commands] == ["0.6", "0.4"]
    assert [j_properties(c.argv)["perfmon.part.index"] for c in commands] == ["0", "1"]
    for threads in range(2, 40):
        assert sum(int(jmeter_part(tmp_path, s, THREADS=str(threads)).env["THREADS"])
                   for s in SIXTY_FORTY) == threads


def test_jmeter_without_split_is_unchanged(tmp_path):
    command = JMETER.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "plan.jmx",
                                     parameters={"THREADS": "3"}))
    assert command.env == {"THREADS": "3"}
    assert not any(a.startswith("-Jperfmon.") for a in command.argv)


def test_jmeter_check_split_refuses_a_part_without_threads(tmp_path):
    with pytest.raises(InvalidSpec) as err:
        JMETER.check_split({"THREADS": "1"}, EQUAL[0])
    assert str(err.value) == "THREADS=1 cannot be split over 2 parts: every part needs at least one thread"
    with pytest.raises(InvalidSpec, match="^login_threads=1 cannot be split over 2 parts"):
        JMETER.check_split({"THREADS": "4", "login_threads": "1"}, SIXTY_FORTY[0])
    with pytest.raises(InvalidSpec, match="^THREADS='many' cannot be split over 2 parts: "
                                          "a thread count must be a whole number"):
        JMETER.check_split({"THREADS": "many"}, EQUAL[1])
    with pytest.raises(InvalidSpec, match="^THREADS=0 cannot"):
        JMETER.check_split({"THREADS": "0"}, EQUAL[1])
    with pytest.raises(InvalidSpec, match="THREADS=2 cannot be split over 3 parts"):
        jmeter_part(tmp_path, Split.equal(0, 3), THREADS="2")
    # accepted: enough threads, or no thread parameter (the plan divides its own load)
    JMETER.check_split({"THREADS": "2"}, SIXTY_FORTY[1])
    JMETER.check_split({"DURATION": "10"}, EQUAL[0])


# --- real runs: every part of a 2-part split at once ------------------------------------

LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

PART = "part {}/{} share {} users {}".format(
    os.environ["PERFMON_PART_INDEX"], os.environ["PERFMON_PART_COUNT"],
    os.environ["PERFMON_PART_SHARE"], os.environ["LOCUST_USERS"])

class Visitor(HttpUser):
    host = os.environ["TARGET"]
    wait_time = constant(0.02)

    def on_start(self):
        # once per user: the part's users are counted from these
        self.client.get("/slow?ms=1", name="start " + PART)

    @task
    def ok(self):
        self.client.get("/ok")
"""


def run_parts(commands, adapter, timeout):
    running = [proc.start(c) for c in commands]
    try:
        for r in running:
            code = r.wait(timeout=timeout)
            assert adapter.classify_exit(code).ok, r.log()[-3000:]
    finally:
        for r in running:
            if r.proc.poll() is None:
                proc.kill_group(r.proc)
    return running


def test_locust_parts_of_three_users_run_one_and_two(tmp_path, target):
    locust = require_tool("locust")
    commands, readers = [], []
    for split in EQUAL:
        work = tmp_path / f"part{split.index}"
        work.mkdir()
        (work / "locustfile.py").write_text(LOCUSTFILE)
        spec = RunSpec(work_dir=work, script_path=work / "locustfile.py", tool_path=locust,
                       parameters={"TARGET": target.base_url, "LOCUST_USERS": "3",
                                   "LOCUST_RUN_TIME": "3s", "LOCUST_STOP_TIMEOUT": "5"},
                       split=split)
        commands.append(LOCUST.prepare(spec))
        readers.append(LOCUST.reader(spec))
    running = run_parts(commands, LOCUST, timeout=60)
    results = [r.finish() for r in readers]

    for index, (users, command, run) in enumerate(zip((1, 2), commands, running, strict=True)):
        names = Counter(json.loads(line)["name"]  # request lines; the header and load-level lines name none
                        for line in command.output_path.read_text().splitlines() if "perfmon_stream" not in line)
        # every user of the part started once, and saw the part in its environment
        assert names[f"start part {index}/2 share 0.5 users {users}"] == users, names
        assert sum(n for name, n in names.items() if name.startswith("start")) == users
        assert names["/ok"] > 0
        # Locust's own account of the users it ran
        spawned = re.findall(r"All users spawned: .*\((\d+) total users\)", run.log())
        assert spawned == [str(users)], run.log()[-3000:]
    # the parts add up to what the target served, and the target saw three users start
    served = target.counts()
    assert sum(r.count for r in results) == sum(served.values())
    assert served[("/slow", 200)] == 3


def _sampler(name: str, path: str) -> str:
    return f"""
        <HTTPSamplerProxy guiclass="HttpTestSampleGui" testclass="HTTPSamplerProxy" testname="{name}">
          <stringProp name="HTTPSampler.domain">127.0.0.1</stringProp>
          <stringProp name="HTTPSampler.port">${{__P(TARGET_PORT)}}</stringProp>
          <stringProp name="HTTPSampler.protocol">http</stringProp>
          <stringProp name="HTTPSampler.path">{path}</stringProp>
          <stringProp name="HTTPSampler.method">GET</stringProp>
          <boolProp name="HTTPSampler.use_keepalive">true</boolProp>
        </HTTPSamplerProxy>
        <hashTree/>"""


# ${THREADS} threads run ${LOOPS} loops of one sample each, labelled with what the part saw:
# its properties, its environment and a rate scaled by its share as docs/distributed-tools.md shows.
PART_LABEL = ("part ${__P(perfmon.part.index,none)}/${__P(perfmon.part.count,none)} "
              "share ${__P(perfmon.part.share,none)} "
              "env ${__groovy(System.getenv('PERFMON_PART_INDEX'))} "
              "threads ${__P(THREADS,none)} "
              "rate ${__jexl3(${__P(RATE,60)} * ${__P(perfmon.part.share,1)})}")
PLAN = f"""<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3">
  <hashTree>
    <TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="split plan"/>
    <hashTree>
      <ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="users">
        <stringProp name="ThreadGroup.num_threads">${{__P(THREADS,1)}}</stringProp>
        <stringProp name="ThreadGroup.ramp_time">0</stringProp>
        <boolProp name="ThreadGroup.scheduler">false</boolProp>
        <stringProp name="ThreadGroup.on_sample_error">continue</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController"
                     guiclass="LoopControlPanel" testclass="LoopController">
          <stringProp name="LoopController.loops">${{__P(LOOPS,1)}}</stringProp>
          <boolProp name="LoopController.continue_forever">false</boolProp>
        </elementProp>
      </ThreadGroup>
      <hashTree>{_sampler(PART_LABEL, "/ok")}
      </hashTree>
    </hashTree>
  </hashTree>
</jmeterTestPlan>
"""


def test_jmeter_parts_of_three_threads_run_one_and_two(tmp_path, target):
    jmeter = require_tool("jmeter")
    loops = 6
    commands, readers = [], []
    for split in EQUAL:
        work = tmp_path / f"part{split.index}"
        work.mkdir()
        (work / "plan.jmx").write_text(PLAN)
        spec = RunSpec(work_dir=work, script_path=work / "plan.jmx", tool_path=jmeter,
                       parameters={"TARGET_PORT": str(target.port), "THREADS": "3",
                                   "LOOPS": str(loops), "RATE": "600"},
                       split=split)
        commands.append(JMETER.prepare(spec))
        readers.append(JMETER.reader(spec))
    run_parts(commands, JMETER, timeout=90)
    results = [r.finish() for r in readers]

    for index, (threads, command, result) in enumerate(zip((1, 2), commands, results, strict=True)):
        with open(command.output_path, newline="") as f:
            rows = list(csv.DictReader(f))
        assert result.count == len(rows) == threads * loops
        assert result.errors == 0
        # JMeter's own thread names: the part ran exactly its threads
        assert len({r["threadName"] for r in rows}) == threads
        assert {r["label"] for r in rows} == {
            f"part {index}/2 share 0.5 env {index} threads {threads} rate 300.0"}
    assert target.counts() == Counter({("/ok", 200): 3 * loops})
