"""A run's per-request breakdown: its requests, errors by cause, checks, latency histogram, and
runs compared side by side (docs/api.md, Runs)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.common.openapi import integer_query
from perfmon.api.monitor import breakdown
from perfmon.api.monitor.schema import errors, path_id
from perfmon.api.monitor.serializers import RunSerializer
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.runs.models import Run, RunPart
from perfmon.runs.selectors import part_with_breakdown, run_with_breakdown, runs_by_ids

_RUN_ID = path_id("runId", description="the run's id (a UUID)")
_PART = integer_query(
    "part", 0, settings.PERFMON_SPLIT_MAX_PARTS - 1,
    "a split run: only this part's own figures (its index, as in /parts; 404 when the run has no such part); "
    "default: the parts merged",
)
COMPARE_MIN_RUNS, COMPARE_MAX_RUNS = 2, 3


class BreakdownView(MonitorApiView):
    """Base of the breakdown endpoints: the run (or with ``?part=i`` its part) whose figures are shown."""

    def figures_of(self, run_id: str) -> Run | RunPart:
        """The run of the tenant, or its part ``?part=i``: NotFound for another tenant's run or a part the run
        does not have, 400 for a ``part`` that is not an index."""
        run = run_with_breakdown(self.tenant, run_id)
        index = breakdown.part_index(self.request.query_params)
        if index is None:
            return run
        part = part_with_breakdown(self.tenant, run, index) if run.is_split else None
        if part is None:
            raise NotFound(f"Run {run.pk} has no part {index}")
        return part


# --- requests ----------------------------------------------------------------------------------

class RequestRowSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="the request's name as the tool reports it; `other`: every name past the cap")
    method = serializers.CharField(help_text="HTTP method when the tool reports one, else empty")
    count = serializers.IntegerField()
    errors = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True, help_text="errors / count, 0..1")
    status_codes = serializers.DictField(child=serializers.IntegerField(), help_text='HTTP status -> count ("0": no response)')
    p50 = serializers.FloatField(allow_null=True, help_text="ms")
    p90 = serializers.FloatField(allow_null=True, help_text="ms")
    p95 = serializers.FloatField(allow_null=True, help_text="ms")
    p99 = serializers.FloatField(allow_null=True, help_text="ms")
    avg = serializers.FloatField(allow_null=True, help_text="ms")
    min = serializers.FloatField(allow_null=True, help_text="ms")
    max = serializers.FloatField(allow_null=True, help_text="ms")
    throughput = serializers.FloatField(allow_null=True, help_text="requests per second over the name's own span")


class RunRequestsView(BreakdownView):
    @extend_schema(
        summary="Get run requests",
        description=(
            "Added. The run's figures per request name, busiest first (`other`, the names past the cap, last): "
            "counts, errors, HTTP status codes and exact latency percentiles from each name's own histogram. "
            "`[]` until the run has a result."
        ),
        parameters=[_RUN_ID, _PART],
        responses={200: RequestRowSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803 - the documented name
        owner = self.figures_of(runId)
        return Response(RequestRowSerializer(breakdown.request_rows(owner.requests), many=True).data)


# --- errors ------------------------------------------------------------------------------------

class ErrorSampleSerializer(serializers.Serializer):
    at = serializers.DateTimeField(allow_null=True, help_text="when the request started")
    status = serializers.IntegerField(help_text="HTTP status (0: no response)")
    message = serializers.CharField(allow_blank=True, help_text="the tool's error message, if it gave one")


class ErrorRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    method = serializers.CharField()
    cause = serializers.CharField(help_text="the tool's error message or code, else `HTTP <status>` or `no response`")
    count = serializers.IntegerField()
    samples = ErrorSampleSerializer(many=True, help_text="the first few errors of this cause")


class RunErrorsView(BreakdownView):
    @extend_schema(
        summary="Get run errors",
        description=(
            "Added. The run's failed requests by request name and cause, the most frequent first, with the "
            "first few occurrences of each as samples. `[]` for a run without errors."
        ),
        parameters=[_RUN_ID, _PART],
        responses={200: ErrorRowSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803
        owner = self.figures_of(runId)
        return Response(ErrorRowSerializer(breakdown.error_rows(owner.requests), many=True).data)


# --- checks ------------------------------------------------------------------------------------

class CheckRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    passes = serializers.IntegerField()
    fails = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="passes / (passes + fails), 0..1")


class RunChecksView(BreakdownView):
    @extend_schema(
        summary="Get run checks",
        description=(
            "Added. The checks (k6 checks, assertions) the tool evaluated, failing ones first: passes, fails and "
            "the pass rate. `[]` for tools that report none."
        ),
        parameters=[_RUN_ID, _PART],
        responses={200: CheckRowSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803
        owner = self.figures_of(runId)
        return Response(CheckRowSerializer(breakdown.check_rows(owner.checks), many=True).data)


# --- histogram ---------------------------------------------------------------------------------

class HistogramBucketSerializer(serializers.Serializer):
    from_ms = serializers.FloatField()
    to_ms = serializers.FloatField()
    count = serializers.IntegerField()


class HistogramSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="latencies in the histogram: the buckets' counts add up to it")
    buckets = HistogramBucketSerializer(many=True)


class RunHistogramView(BreakdownView):
    @extend_schema(
        summary="Get run latency histogram",
        description=(
            "Added. The run's latency distribution for a chart: log-spaced ranges from the fastest to the "
            "slowest request with exact counts (they add up to `count`). "
            f"`buckets` 1..{breakdown.HISTOGRAM_MAX_BUCKETS}, default {breakdown.HISTOGRAM_DEFAULT_BUCKETS}."
        ),
        parameters=[
            _RUN_ID, _PART,
            integer_query("buckets", 1, breakdown.HISTOGRAM_MAX_BUCKETS,
                          f"at most this many ranges (1..{breakdown.HISTOGRAM_MAX_BUCKETS})"),
        ],
        responses={200: HistogramSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803
        raw = request.query_params.get("buckets", str(breakdown.HISTOGRAM_DEFAULT_BUCKETS))
        buckets = breakdown.whole_number(raw)
        if buckets is None or not 1 <= buckets <= breakdown.HISTOGRAM_MAX_BUCKETS:
            raise ValidationError({"buckets": [f"A whole number from 1 to {breakdown.HISTOGRAM_MAX_BUCKETS}."]})
        owner = self.figures_of(runId)
        hist = breakdown.decoded_histogram(owner.histogram, owner=str(owner))
        exact = owner.metrics if isinstance(owner.metrics, dict) else {}
        buckets = breakdown.histogram_buckets(hist, buckets, min_ms=breakdown.number(exact.get("min_ms")),
                                              max_ms=breakdown.number(exact.get("max_ms")))
        return Response(HistogramSerializer(buckets).data)


# --- compare -----------------------------------------------------------------------------------

class FigureChangeSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="the figure's name, as in the run's metrics or a /requests row")
    values = serializers.ListField(child=serializers.FloatField(allow_null=True),
                                   help_text="one per run, in the order of ids; null: not known for that run")
    changes = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        help_text="(value - first run's value) / first run's value, one per run; null for the first run, "
        "and where either value is unknown or the first is 0",
    )


class RequestComparisonSerializer(serializers.Serializer):
    name = serializers.CharField()
    method = serializers.CharField()
    metrics = FigureChangeSerializer(many=True)


class ComparisonSerializer(serializers.Serializer):
    runs = RunSerializer(many=True, help_text="the runs, in the order of ids; the first is the baseline")
    metrics = FigureChangeSerializer(many=True, help_text="each figure of the runs' metrics")
    requests = RequestComparisonSerializer(
        many=True, help_text="each request name of any of the runs (busiest of the first run first)"
    )


class RunCompareView(MonitorApiView):
    @extend_schema(
        operation_id="runs_compare",
        summary="Compare runs",
        description=(
            f"Added. {COMPARE_MIN_RUNS} or {COMPARE_MAX_RUNS} runs side by side: each figure of their metrics and "
            "of each request name, with its relative change from the first run's. `ids` is comma-separated "
            "whole run ids, each once; one that is not the tenant's run is a 404."
        ),
        parameters=[
            OpenApiParameter("ids", {"type": "array", "items": {"type": "string", "format": "uuid"},
                                     "minItems": COMPARE_MIN_RUNS, "maxItems": COMPARE_MAX_RUNS, "uniqueItems": True},
                             required=True, style="form", explode=False,
                             description=f"{COMPARE_MIN_RUNS} to {COMPARE_MAX_RUNS} run ids, comma-separated, each "
                                         "once; the first is the baseline"),
        ],
        responses={200: ComparisonSerializer, **errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        try:
            ids = breakdown.parse_ids(request.query_params.get("ids"), minimum=COMPARE_MIN_RUNS,
                                      maximum=COMPARE_MAX_RUNS)
        except ValueError as exc:
            raise ValidationError({"ids": [str(exc)]}) from None
        runs = runs_by_ids(self.tenant, ids)
        return Response(ComparisonSerializer({"runs": runs, **breakdown.comparison(runs)}).data)
