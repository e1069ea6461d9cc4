"""The load level of each series point (``vus``) from Locust and JMeter: real
runs against the local target with a known user (thread) count, and the
readers on written output, old formats included."""

import csv
import json
from pathlib import Path

import pytest

from runners import get_adapter
from runners.errors import ParseError
from runners.stream import StreamReader, header_line, request_line
from tests.runners import proc
from tests.runners import test_jmeter as jmeter_tests
from tests.runners import test_locust as locust_tests

LOCUST = get_adapter("locust")
JMETER = get_adapter("jmeter")


def load_lines(path: Path) -> list[dict]:
    """The listener's load lines, read with plain json."""
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "vus" in obj:
            assert obj["perfmon_stream"] == 1  # shaped as a repeated header
            out.append(obj)
    return out


def test_locust_series_carry_the_user_count(tmp_path, target):
    spec = locust_tests.make_spec(tmp_path, target, users=3, run="3s", pause=0.01, interval_s=1.0)
    command = LOCUST.prepare(spec)
    running = proc.start(command)
    assert LOCUST.classify_exit(running.wait(timeout=60)).ok, running.log()[-3000:]
    result = LOCUST.reader(spec).finish()

    assert result.count > 0
    assert max(p.vus or 0 for p in result.series) == 3
    assert all(p.vus is None or 0 <= p.vus <= 3 for p in result.series)
    samples = load_lines(command.output_path)
    # once when spawning completed, then about once a second while the test ran
    assert any(s["vus"] == 3 for s in samples) and all(0 <= s["vus"] <= 3 for s in samples)
    assert len(samples) >= 3, samples
    times = [s["t"] for s in samples]
    assert times == sorted(times)
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) < 5, times  # the sampler kept going
    assert times[-1] < result.ended_at + 20  # stopped with Locust
    # any reader of the stream skips the load lines: the same figures, no load level
    plain = StreamReader(command.output_path, interval_s=1.0).finish()
    assert (plain.count, plain.errors) == (result.count, result.errors)
    assert [p.count for p in plain.series] == [p.count for p in result.series]
    assert all(p.vus is None for p in plain.series)


def _load(t: float, vus) -> str:
    return json.dumps({"perfmon_stream": 1, "vus": vus, "t": t}) + "\n"


def test_locust_reader_places_load_lines_and_reads_streams_without_them(tmp_path):
    start = 1_700_000_000.0
    old = tmp_path / "old.ndjson"
    old.write_text(header_line(tool="locust") + request_line(start + 0.1, 5, 200, name="a")
                   + request_line(start + 1.1, 800, 200, name="a"))
    result = LOCUST.file_reader(old, interval_s=1.0).finish()
    assert result.count == 2 and [p.vus for p in result.series] == [None, None]

    new = tmp_path / "new.ndjson"
    new.write_text(header_line(tool="locust") + _load(start, 4)  # before any request: the first interval
                   + request_line(start + 0.1, 5, 200, name="a") + _load(start + 0.5, 2)
                   + _load(start + 1.05, 3) + request_line(start + 1.1, 800, 200, name="a")
                   + _load(start + 2.5, 9))  # after the last request: opens nothing
    result = LOCUST.file_reader(new, interval_s=1.0).finish()
    assert result.count == 2 and [p.vus for p in result.series] == [4, 3]


@pytest.mark.parametrize("line", [_load(1_700_000_000.0, -1), _load(1_700_000_000.0, "3"),
                                  _load(1_700_000_000.0, 2.5), _load(None, 3)])
def test_locust_reader_refuses_a_bad_load_line(tmp_path, line):
    out = tmp_path / "bad.ndjson"
    out.write_text(header_line(tool="locust") + request_line(1_700_000_000.0, 5, 200) + line)
    with pytest.raises(ParseError) as caught:
        LOCUST.file_reader(out).finish()
    assert caught.value.line == 3


def test_jmeter_series_carry_the_thread_count(tmp_path, target):
    spec = jmeter_tests.make_spec(tmp_path, target, threads=2, duration=3, pause_ms=5, interval_s=1.0)
    command = JMETER.prepare(spec)
    running = proc.start(command)
    assert JMETER.classify_exit(running.wait(timeout=90)).ok, running.log()[-3000:]
    result = JMETER.reader(spec).finish()

    assert result.count > 0
    assert max(p.vus or 0 for p in result.series) == 2
    assert all(p.vus is None or 1 <= p.vus <= 2 for p in result.series)
    # every interval holding a sample has the count of its samples
    assert all(p.vus is not None for p in result.series if p.count)
    with open(command.output_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["allThreads"]) for r in rows} <= {1, 2} and int(rows[0]["grpThreads"]) >= 1


def test_jtl_reader_takes_all_threads_and_reads_a_jtl_without_them(tmp_path):
    header, row = jmeter_tests.HEADER, jmeter_tests.ROW  # allThreads 3
    with_counts = tmp_path / "with.jtl"
    with_counts.write_text(header + row + row.replace(",3,3,", ",2,2,"))
    assert [p.vus for p in JMETER.file_reader(with_counts, interval_s=1.0).finish().series] == [3]

    columns = header.rstrip("\n").split(",")
    keep = [i for i, name in enumerate(columns) if name not in ("grpThreads", "allThreads")]
    without = tmp_path / "without.jtl"
    without.write_text("".join(",".join(line.rstrip("\n").split(",")[i] for i in keep) + "\n"
                               for line in (header, row)))
    result = JMETER.file_reader(without, interval_s=1.0).finish()
    assert result.count == 1 and [p.vus for p in result.series] == [None]

    bad = tmp_path / "bad.jtl"
    bad.write_text(header + row.replace(",3,3,", ",3,many,"))
    with pytest.raises(ParseError, match="allThreads"):
        JMETER.file_reader(bad).finish()
