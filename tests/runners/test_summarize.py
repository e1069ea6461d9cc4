import json
import subprocess
import sys
import tracemalloc

import pytest

from runners.__main__ import summarize
from runners.stream import header_line, request_line
from tests.runners.conftest import REPO

T0 = 1_700_000_000.0
KEYS = {"count", "errors", "error_rate", "min_ms", "avg_ms", "p50_ms", "p90_ms", "p95_ms",
        "p99_ms", "max_ms", "throughput_rps", "duration_s", "apdex"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "runners", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def _stream(path, n, name="GET /x"):
    with open(path, "w") as f:
        f.write(header_line())
        for i in range(n):
            f.write(request_line(T0 + i * 0.001, 1 + (i % 997) * 0.37, 500 if i % 50 == 0 else 200,
                                 name=name))


def test_summarize_prints_one_json_object(tmp_path):
    out = tmp_path / "s.ndjson"
    _stream(out, 100)
    proc = run_cli("summarize", "--tool", "custom", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= KEYS
    assert data["count"] == 100 and data["errors"] == 2 and data["error_rate"] == 0.02


@pytest.mark.parametrize("content", [b"\x00\xff garbage \x13" * 100, b"hello\nworld\n",
                                     b'{"perfmon_stream": 1}\n{"t": 1, "ms": 2, "sta\n{"t": 1}\n'])
def test_garbage_exits_2_with_a_message_and_no_traceback(tmp_path, content):
    out = tmp_path / "bad.out"
    out.write_bytes(content)
    for tool in ("k6", "locust", "custom"):
        proc = run_cli("summarize", "--tool", tool, str(out))
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert proc.stderr.startswith("error: ") and str(out) in proc.stderr
        assert "Traceback" not in proc.stderr


def test_missing_file_and_unknown_tool_exit_2(tmp_path):
    proc = run_cli("summarize", "--tool", "k6", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "No such file" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("summarize", "--tool", "wrk", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_memory_stays_flat_with_file_size(tmp_path):
    # long names make a big file from few lines: tracemalloc slows every allocation, and
    # what must stay flat is memory against bytes and records read, not the line count
    name = "GET /api/v1/items?" + "q=load-test&" * 60
    small, large = tmp_path / "small.ndjson", tmp_path / "large.ndjson"
    _stream(small, 4_000, name)
    _stream(large, 40_000, name)   # about 32 MB

    def peak(path):
        tracemalloc.start()
        try:
            data = summarize("custom", str(path))
            return data, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_data, small_peak = peak(small)
    large_data, large_peak = peak(large)
    assert large_data["count"] == 40_000 and small_data["count"] == 4_000
    assert large.stat().st_size > 30_000_000
    # ten times the file, the same few MB (histograms, one read chunk); keeping the
    # records would take more than the file's 32 MB
    assert large_peak < 8_000_000, large_peak
    assert large_peak < small_peak * 1.5, (small_peak, large_peak)
