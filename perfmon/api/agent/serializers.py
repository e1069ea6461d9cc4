"""Validation of what agents post. Cheap on purpose: ingest is a hot path.

The run's final report is read by runners.protocol.RunReport, the class the agent writes it with.
Series points are read by ``series_rows`` straight from the body into the rows the ingest
stores, without a serializer or a dataclass per point: that is most of a stream post's time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from rest_framework import serializers
from rest_framework.exceptions import ParseError as BadJson
from rest_framework.exceptions import ValidationError

from perfmon.core.errors import PerfmonError
from perfmon.fleet.models import agent_id_validator
from perfmon.runs.ingest import StreamTarget
from runners.errors import ParseError
from runners.result import SeriesPoint

MAX_BATCH = 1000  # log chunks per post
MAX_SERIES_POINTS = 5000  # series points per post (the agent sends at most 1000, agents/reporter.py)
MAX_CHUNK_CHARS = 256 * 1024
_INT_MAX = 2**31 - 1  # the columns are PostgreSQL integers
_NUMBER = (int, float)


class BatchTooLarge(PerfmonError):
    """More series points in one post than the API takes: 413, nothing stored."""

    code = "payload_too_large"
    status = 413


def series_rows(body: bytes, target: StreamTarget) -> list[tuple]:
    """The rows (ingest.SERIES_COLUMNS) of a series post's ``{"points": [...]}`` for ``target``.

    Reads what runners.result.SeriesPoint.from_dict reads, with the same
    rules: a point of the usual shape (numbers as JSON numbers) is checked
    field by field here; any other goes through from_dict itself, which
    converts what it can and names what it cannot. Raises BadJson (400) for
    a body that is not JSON, ValidationError (400) for a bad point and
    BatchTooLarge (413) past MAX_SERIES_POINTS; nothing is stored then.
    """
    try:
        data = orjson.loads(body)  # refuses NaN and Infinity, as JSON does
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"JSON parse error - {exc}") from None
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, list):
        raise ValidationError({"points": [f"a list of at most {MAX_SERIES_POINTS} series points"]})
    if len(points) > MAX_SERIES_POINTS:
        raise BatchTooLarge(f"a series post carries at most {MAX_SERIES_POINTS} points, this one {len(points)}; "
                            "send them in several posts", details={"points": [f"at most {MAX_SERIES_POINTS}"]})
    run_id, part = target.run_id, target.part
    rows = []
    append = rows.append
    for point in points:
        row = _usual_row(point, run_id, part)
        if row is None:
            row = _any_row(point, run_id, part)
        seq, count, errors, vus = row[2], row[5], row[6], row[14]
        if not (0 <= seq <= _INT_MAX and 0 <= errors <= count <= _INT_MAX) or (vus is not None and not 0 <= vus <= _INT_MAX):
            raise ValidationError({"points": ["seq, count, errors and vus must be non-negative integers "
                                              f"(at most {_INT_MAX}), errors <= count"]})
        if "\x00" in row[11]:  # a PostgreSQL text column cannot hold a NUL
            raise ValidationError({"points": ["a histogram is text without null characters"]})
        append(row)
    return rows


def _usual_row(p, run_id, part) -> tuple | None:
    """The row of a point whose values have their JSON types already; None for any other point."""
    if type(p) is not dict:
        return None
    get = p.get
    seq, start, interval_s, count, errors = get("seq"), get("start"), get("interval_s"), get("count"), get("errors")
    p50, p95, p99, rps = get("p50_ms"), get("p95_ms"), get("p99_ms"), get("throughput_rps")
    histogram, covered, p90, vus = get("histogram", ""), get("covered_s"), get("p90_ms"), get("vus")
    if (type(seq) is not int or type(count) is not int or type(errors) is not int
            or type(start) not in _NUMBER or type(interval_s) not in _NUMBER or type(p50) not in _NUMBER
            or type(p95) not in _NUMBER or type(p99) not in _NUMBER or type(rps) not in _NUMBER
            or type(histogram) is not str or (covered is not None and type(covered) not in _NUMBER)
            or (p90 is not None and type(p90) not in _NUMBER) or (vus is not None and type(vus) is not int)):
        return None
    try:
        at = datetime.fromtimestamp(start, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValidationError({"points": [f"start {start!r} is not a time"]}) from None
    return (run_id, part, seq, at, float(interval_s), count, errors, float(p50), float(p95), float(p99),
            float(rps), histogram, float(interval_s if covered is None else covered),
            None if p90 is None else float(p90), vus)


def _any_row(p, run_id, part) -> tuple:
    try:
        point = SeriesPoint.from_dict(p)
        at = datetime.fromtimestamp(point.start, tz=UTC)
    except ParseError as exc:
        raise ValidationError({"points": [str(exc)]}) from None
    except (OverflowError, OSError, ValueError):
        raise ValidationError({"points": [f"start {p.get('start')!r} is not a time"]}) from None
    return (run_id, part, point.seq, at, point.interval_s, point.count, point.errors, point.p50_ms, point.p95_ms,
            point.p99_ms, point.throughput_rps, point.histogram, point.covered_s, point.p90_ms, point.vus)


class HostFactsSerializer(serializers.Serializer):
    hostname = serializers.CharField(max_length=255, required=False, allow_blank=True)
    ip_address = serializers.IPAddressField(required=False, allow_null=True)
    os = serializers.CharField(max_length=32, required=False, allow_blank=True)
    arch = serializers.CharField(max_length=32, required=False, allow_blank=True)
    cpu_cores = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    memory_gb = serializers.FloatField(min_value=0, required=False, allow_null=True)
    version = serializers.CharField(max_length=32, required=False, allow_blank=True)
    tools = serializers.DictField(child=serializers.CharField(max_length=64, allow_blank=True), required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class EnrollSerializer(HostFactsSerializer):
    token = serializers.CharField(max_length=200)
    agent_id = serializers.CharField(max_length=63, required=False, validators=[agent_id_validator])
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    location = serializers.CharField(max_length=63, required=False, allow_blank=True)


class MetricsSerializer(serializers.Serializer):
    cpu_percent = serializers.FloatField(required=False, allow_null=True)
    memory_percent = serializers.FloatField(required=False, allow_null=True)
    load1 = serializers.FloatField(required=False, allow_null=True)
    disk_free_gb = serializers.FloatField(required=False, allow_null=True)


class HeartbeatSerializer(HostFactsSerializer):
    metrics = MetricsSerializer(required=False, default=dict)
    running_runs = serializers.ListField(child=serializers.UUIDField(), max_length=1000, required=False, default=list)


class ClaimSerializer(serializers.Serializer):
    claim_id = serializers.UUIDField()


class LogChunkSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=_INT_MAX)  # the column is a PostgreSQL integer
    text = serializers.CharField(max_length=MAX_CHUNK_CHARS, allow_blank=True, trim_whitespace=False)


class LogsSerializer(serializers.Serializer):
    chunks = LogChunkSerializer(many=True, max_length=MAX_BATCH)
