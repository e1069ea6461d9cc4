"""The perfmon result stream, version 1: what custom tools, our Locust listener
and our Artillery plugin write, and its reader.

NDJSON (one JSON object per line, UTF-8):

1. a header, first:  {"perfmon_stream": 1}   (more keys allowed, e.g. "tool")
2. then any mix of
   - one request:  {"t": 1700000000.123, "ms": 12.5, "status": 200, "ok": true, "name": "GET /"}
       t       epoch seconds at which the request STARTED (number, required)
       ms      elapsed milliseconds (number >= 0, required)
       status  HTTP status, 0 = no response (integer, required)
       ok      false if the tool/script judged it failed (default true)
       name    label (string, default ""): the per-request breakdown's key
       method  HTTP method (string, default "")
       error   why a failed request failed, the tool's message or code (string,
               default ""; without one the breakdown says "HTTP <status>")
   - one check (assertion) outcome:  {"check": "body has id", "ok": false, "count": 1}
       check   the check's name (string, required)
       ok      whether it passed (boolean, required)
       count   evaluations with this outcome (integer >= 1, default 1)
   - one interval aggregate:
       {"interval": {"start": 1700000000.0, "seconds": 5, "count": 120, "errors": 3,
                     "hdr": "HISTF...", "min_ms": 1.2, "max_ms": 88.0, "sum_ms": 2400.5}}
       hdr     base64 HdrHistogram payload of the interval's latencies in MICROseconds
               (required when count > 0 and must hold exactly count values)
       min_ms, max_ms, sum_ms optional, exact figures when the tool has them

Unknown keys are ignored; a repeated header (several processes appending
to one file) is accepted. The error rule of runners.records applies to
requests: not ok, or status >= 400, or 0. ``method``, ``error`` and check
lines were added to v1 later: every earlier stream reads as before, and
older readers ignore ``method`` and ``error`` but refuse check lines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from runners.adapters.base import OutputReader
from runners.errors import ParseError
from runners.histogram import LatencyHistogram
from runners.records import RequestRecord
from runners.result import SeriesPoint

STREAM_VERSION = 1
HEADER_KEY = "perfmon_stream"
RESULT_PATH_ENV = "PERFMON_RESULT_PATH"


def header_line(**extra) -> str:
    """The header line (with newline), e.g. header_line(tool="locust")."""
    return json.dumps({HEADER_KEY: STREAM_VERSION, **extra}) + "\n"


def request_line(t: float, ms: float, status: int, ok: bool = True, name: str = "", *,
                 method: str = "", error: str = "") -> str:
    """One request line (with newline); ``method`` and ``error`` are written when given."""
    body = {"t": t, "ms": ms, "status": status, "ok": ok, "name": name}
    if method:
        body["method"] = method
    if error:
        body["error"] = error
    return json.dumps(body) + "\n"


def check_line(name: str, ok: bool, count: int = 1) -> str:
    """One check line (with newline): ``count`` evaluations of check ``name`` that passed (or not)."""
    body = {"check": name, "ok": ok}
    if count != 1:
        body["count"] = count
    return json.dumps(body) + "\n"


def interval_line(start: float, seconds: float, count: int, errors: int,
                  histogram: LatencyHistogram | None, **exact) -> str:
    """One interval line (with newline); ``exact`` may hold min_ms, max_ms, sum_ms."""
    body = {"start": start, "seconds": seconds, "count": count, "errors": errors}
    if histogram is not None:
        body["hdr"] = histogram.encode()
    body.update({k: v for k, v in exact.items() if k in ("min_ms", "max_ms", "sum_ms")})
    return json.dumps({"interval": body}) + "\n"


def _number(obj: dict, key: str, *, required: bool = True, minimum: float | None = None):
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(f"missing {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParseError(f"{key!r} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParseError(f"{key!r} must be >= {minimum}, got {value!r}")
    return value


def _integer(obj: dict, key: str, *, minimum: int = 0) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"{key!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ParseError(f"{key!r} must be >= {minimum}, got {value!r}")
    return value


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if value is None:  # absent, or null from a writer with nothing to say
        return ""
    if not isinstance(value, str):
        raise ParseError(f"{key!r} must be a string, got {value!r}")
    return value


class StreamReader(OutputReader):
    """Reads a perfmon result stream (see the module docstring) into a ResultBuilder."""

    def __init__(self, path: Path, **kwargs):
        super().__init__(path, **kwargs)
        self._header_seen = False

    def parse_line(self, line: str) -> None:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(obj, dict):
            raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
        if HEADER_KEY in obj:
            version = obj[HEADER_KEY]
            if version != STREAM_VERSION:
                raise ParseError(f"unsupported perfmon stream version {version!r} "
                                 f"(this reader reads version {STREAM_VERSION})")
            self._header_seen = True
            return
        if not self._header_seen:
            raise ParseError(f'not a perfmon result stream: the first line must be '
                             f'{{"{HEADER_KEY}": {STREAM_VERSION}}}')
        if "interval" in obj:
            self._interval(obj["interval"])
        elif "check" in obj:
            self._check(obj)
        else:
            self._request(obj)

    def _request(self, obj: dict) -> None:
        ok = obj.get("ok", True)
        if not isinstance(ok, bool):
            raise ParseError(f"'ok' must be true or false, got {ok!r}")
        self.builder.add(RequestRecord(
            ts=float(_number(obj, "t", minimum=0)), latency_ms=float(_number(obj, "ms", minimum=0)),
            status=_integer(obj, "status"), failed=not ok, name=_text(obj, "name"),
            method=_text(obj, "method"), error=_text(obj, "error")))

    def _check(self, obj: dict) -> None:
        name = obj["check"]
        if not isinstance(name, str):
            raise ParseError(f"'check' must be a string, got {name!r}")
        ok = obj.get("ok")
        if not isinstance(ok, bool):
            raise ParseError(f"a check line's 'ok' must be true or false, got {ok!r}")
        count = _integer(obj, "count", minimum=1) if "count" in obj else 1
        self.builder.add_check(name, passed=ok, count=count)

    def _interval(self, body) -> None:
        if not isinstance(body, dict):
            raise ParseError("'interval' must be an object")
        start = float(_number(body, "start", minimum=0))
        seconds = float(_number(body, "seconds"))
        if seconds <= 0:
            raise ParseError(f"'seconds' must be > 0, got {seconds!r}")
        count = _integer(body, "count")
        errors = _integer(body, "errors")
        if errors > count:
            raise ParseError(f"'errors' ({errors}) exceeds 'count' ({count})")
        hist = None
        if body.get("hdr") is not None:
            if not isinstance(body["hdr"], str):
                raise ParseError("'hdr' must be a string")
            hist = LatencyHistogram.decode(body["hdr"])
        if count and (hist is None or hist.count != count):
            held = 0 if hist is None else hist.count
            raise ParseError(f"'hdr' must hold exactly count={count} latencies, holds {held}")
        point = SeriesPoint.build(0, start, seconds, count, errors, hist)
        self.builder.add_interval(
            point, hist, min_ms=_number(body, "min_ms", required=False, minimum=0),
            max_ms=_number(body, "max_ms", required=False, minimum=0),
            sum_ms=_number(body, "sum_ms", required=False, minimum=0))
