import json

import pytest

from runners.errors import ParseError
from runners.histogram import LatencyHistogram
from runners.stream import StreamReader, header_line, interval_line, request_line

T0 = 1_700_000_000.0


def write(path, text, mode="a"):
    with open(path, mode, encoding="utf-8") as f:
        f.write(text)


def test_reads_requests_and_applies_the_error_rule(tmp_path):
    out = tmp_path / "s.ndjson"
    write(out, header_line(tool="test"))
    write(out, request_line(T0, 10, 200))
    write(out, request_line(T0 + 1, 20, 500))            # status >= 400
    write(out, request_line(T0 + 2, 30, 200, ok=False))  # script judged it failed
    write(out, request_line(T0 + 3, 40, 0))              # no response
    write(out, json.dumps({"t": T0 + 4, "ms": 50, "status": 204, "extra": "ignored"}) + "\n")
    r = StreamReader(out).finish()
    assert (r.count, r.errors, r.min_ms, r.max_ms, r.avg_ms) == (5, 3, 10, 50, 30)
    assert r.started_at == T0 and r.ended_at == T0 + 4.05
    assert not r.partial


def test_incremental_reading_consumes_complete_lines_only(tmp_path):
    out = tmp_path / "s.ndjson"
    reader = StreamReader(out, interval_s=1.0)
    assert reader.poll() == []                  # the file does not exist yet
    write(out, header_line())
    line = request_line(T0 + 0.1, 10, 200)
    write(out, line[:17])                       # half a line: stays buffered
    assert reader.poll() == []
    write(out, line[17:])
    write(out, request_line(T0 + 2.5, 10, 200))  # completes at 2.51: closes [0, 1)
    points = reader.poll()
    assert [(p.seq, p.count) for p in points] == [(0, 1)]
    assert reader.finish().count == 2


def test_truncated_last_line_is_partial_output(tmp_path):
    out = tmp_path / "s.ndjson"
    write(out, header_line() + request_line(T0, 10, 200) + request_line(T0, 12, 200)[:25])
    r = StreamReader(out).finish()
    assert r.count == 1 and r.partial


def test_complete_last_line_without_newline_is_read(tmp_path):
    out = tmp_path / "s.ndjson"
    write(out, header_line() + request_line(T0, 10, 200).rstrip("\n"))
    r = StreamReader(out).finish()
    assert r.count == 1 and not r.partial


def test_missing_or_empty_output_is_no_requests(tmp_path):
    assert StreamReader(tmp_path / "none").finish().count == 0
    (tmp_path / "empty").write_text("")
    assert StreamReader(tmp_path / "empty").finish().count == 0


@pytest.mark.parametrize("lines, line_no, message", [
    (["{}"], 1, "first line must be"),
    (['{"perfmon_stream": 2}'], 1, "unsupported perfmon stream version 2"),
    (["HDR", '{"t": 1, "ms": 1, "status": 200}'], 1, "not JSON"),
    (['{"perfmon_stream": 1}', '{"t": 1, "ms": 1, "stat'], 2, "not JSON"),  # cut mid-file
    (['{"perfmon_stream": 1}', "[1, 2]"], 2, "expected a JSON object"),
    (['{"perfmon_stream": 1}', '{"t": 1, "ms": -1, "status": 200}'], 2, "'ms' must be >= 0"),
    (['{"perfmon_stream": 1}', '{"t": 1, "ms": 1, "status": "200"}'], 2, "'status' must be"),
    (['{"perfmon_stream": 1}', '{"t": 1, "ms": 1, "status": 200, "ok": "yes"}'], 2, "'ok'"),
    (['{"perfmon_stream": 1}', '{"t": "now", "ms": 1, "status": 200}'], 2, "'t' must be"),
    (['{"perfmon_stream": 1}', '{"ms": 1, "status": 200}'], 2, "missing 't'"),
    (['{"perfmon_stream": 1}', '{"interval": {"start": 1, "seconds": 5, "count": 2, '
      '"errors": 0}}'], 2, "'hdr' must hold exactly count=2"),
    (['{"perfmon_stream": 1}', '{"interval": {"start": 1, "seconds": 5, "count": 1, '
      '"errors": 0, "hdr": "garbage"}}'], 2, "invalid histogram encoding"),
    (['{"perfmon_stream": 1}', '{"interval": {"start": 1, "seconds": 0, "count": 0, '
      '"errors": 0}}'], 2, "'seconds' must be > 0"),
])
def test_garbage_is_a_parse_error_with_file_and_line(tmp_path, lines, line_no, message):
    out = tmp_path / "s.ndjson"
    write(out, "\n".join(lines) + "\n" + request_line(T0, 1, 200))
    with pytest.raises(ParseError) as err:
        StreamReader(out).finish()
    assert err.value.line == line_no
    assert message in str(err.value)
    assert f"{out}, line {line_no}: " in str(err.value)


def test_binary_garbage_is_a_parse_error(tmp_path):
    out = tmp_path / "s.ndjson"
    out.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(ParseError, match="UTF-8|not JSON"):
        StreamReader(out).finish()


def test_interval_records(tmp_path):
    out = tmp_path / "s.ndjson"
    h = LatencyHistogram()
    for ms in (5, 6, 7):
        h.record(ms)
    write(out, header_line())
    write(out, interval_line(T0, 5, 3, 1, h, min_ms=5, max_ms=7, sum_ms=18))
    write(out, interval_line(T0 + 5, 5, 0, 0, None))
    r = StreamReader(out, interval_s=5).finish()
    assert (r.count, r.errors, r.min_ms, r.max_ms, r.avg_ms) == (3, 1, 5, 7, 6)
    assert [(p.start, p.count) for p in r.series] == [(T0, 3), (T0 + 5, 0)]


def test_repeated_header_from_several_processes_is_accepted(tmp_path):
    out = tmp_path / "s.ndjson"
    write(out, header_line() + request_line(T0, 1, 200) + header_line() + request_line(T0, 2, 200))
    assert StreamReader(out).finish().count == 2
