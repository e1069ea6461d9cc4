"""Runs: the tenant's runs, one run, its log streamed as plain text, and its interval series."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.common.fields import ascii_integer
from perfmon.api.common.openapi import BIGINT_MAX, integer_query
from perfmon.api.common.pagination import parse_window, window_parameters
from perfmon.api.monitor.breakdown import part_index, whole_number
from perfmon.api.monitor.schema import ID_PREFIX_PARAM, errors, path_id
from perfmon.api.monitor.serializers import RunPageSerializer, RunPartSerializer, RunSerializer
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.runs import series
from perfmon.runs.selectors import log_texts, parts_of_run, run_for_tenant, runs_of_tenant
from perfmon.runs.services import cancel_run

_RUN_ID = path_id("runId", description="the run's id (a UUID)")


class PlainTextRenderer(BaseRenderer):
    """Lets clients ask for text/plain; errors on this endpoint still carry the JSON envelope."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str | bytes):
            return data
        return JSONRenderer().render(data)


RUNS_DEFAULT_LIMIT = 20
RUNS_MAX_LIMIT = 100


class RunListView(MonitorApiView):
    @extend_schema(
        operation_id="runs_list",
        summary="List runs",
        description=(
            "Not in the original document. Every run of the key's tenant (of its monitors, of deleted "
            "monitors and of /api/v1 tests), newest first, in the envelope of a monitor's runs list. "
            "`idPrefix` keeps the runs whose id starts with it: how a client resolves a shortened id. "
            f"`limit` 1..{RUNS_MAX_LIMIT} (default {RUNS_DEFAULT_LIMIT}), `offset` >= 0."
        ),
        parameters=[
            ID_PREFIX_PARAM,
            *window_parameters(default_limit=RUNS_DEFAULT_LIMIT, max_limit=RUNS_MAX_LIMIT),
        ],
        responses={200: RunPageSerializer, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        window = parse_window(request.query_params, default_limit=RUNS_DEFAULT_LIMIT, max_limit=RUNS_MAX_LIMIT)
        runs = self.narrow_to_id_prefix(runs_of_tenant(self.tenant))
        return Response(
            {
                "runs": RunSerializer(window.slice(runs), many=True).data,
                "total": runs.count(),
                "limit": window.limit,
                "offset": window.offset,
            }
        )


class RunDetailView(MonitorApiView):
    @extend_schema(summary="Get run", parameters=[_RUN_ID], responses={200: RunSerializer, **errors(404)})
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803 - the documented name
        return Response(RunSerializer(run_for_tenant(self.tenant, runId)).data)


class RunPartsView(MonitorApiView):
    @extend_schema(
        summary="Get run parts",
        description=(
            "The parts of a split run (docs/distributed.md), one per agent, in order: agent, location, "
            "share of the load, status and the part's own figures. The run itself shows the parts merged. "
            "Not part of the original document; an empty list for a run on one agent."
        ),
        parameters=[_RUN_ID],
        responses={200: RunPartSerializer(many=True), **errors(404)},
    )
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803
        run = run_for_tenant(self.tenant, runId)
        return Response(RunPartSerializer(parts_of_run(self.tenant, run), many=True).data)


class RunLogsView(MonitorApiView):
    renderer_classes = [JSONRenderer, PlainTextRenderer]

    @extend_schema(
        summary="Get run logs",
        description=(
            "The tool's raw output, whole and in order, as text/plain (streamed). While the run is "
            "active it is the output received so far; empty when there is none."
        ),
        parameters=[_RUN_ID],
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="the log text"),
            **errors(404),
        },
    )
    def get(self, request: Request, runId: str) -> StreamingHttpResponse:  # noqa: N803
        run = run_for_tenant(self.tenant, runId)
        response = StreamingHttpResponse(log_texts(self.tenant, run), content_type="text/plain; charset=utf-8")
        response["X-Run-Status"] = run.status
        response["Cache-Control"] = "no-store"
        return response


SERIES_MAX_POINTS = 1000


class SeriesPointSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="interval number, from 0")
    start = serializers.DateTimeField(help_text="start of the interval")
    interval_s = serializers.FloatField(help_text="seconds")
    count = serializers.IntegerField(help_text="requests completed in the interval")
    errors = serializers.IntegerField()
    p50 = serializers.FloatField(source="p50_ms", allow_null=True, help_text="ms")
    p90 = serializers.FloatField(source="p90_ms", allow_null=True, help_text="ms; null from older agents")
    p95 = serializers.FloatField(source="p95_ms", allow_null=True, help_text="ms")
    p99 = serializers.FloatField(source="p99_ms", allow_null=True, help_text="ms")
    throughput = serializers.FloatField(
        source="throughput_rps", help_text="requests per second: count / coveredS"
    )
    covered_s = serializers.FloatField(help_text="seconds of the interval the run covered (less at its start and end)")
    vus = serializers.IntegerField(allow_null=True, help_text="the most virtual users active in the interval "
                                                              "(a split run's parts added up); null when the tool "
                                                              "does not say")


class RunSeriesSerializer(serializers.Serializer):
    run_status = serializers.CharField()
    points = SeriesPointSerializer(many=True)


class RunSeriesView(MonitorApiView):
    @extend_schema(
        summary="Get run series",
        description=(
            "The run's per-interval figures (1 s intervals), in order, as the agent streams them: "
            "poll with `after` set to the last `seq` you have to follow a run live. Not part of the "
            f"original document; at most {SERIES_MAX_POINTS} points per answer. With `maxPoints`, the "
            "whole series (after `after`) merged into at most that many points: counts add, rates divide "
            "by the covered time, percentiles come from the merged histograms."
        ),
        parameters=[
            _RUN_ID,
            integer_query("after", -1, BIGINT_MAX, "only points with a larger seq (default -1: all)"),
            integer_query("maxPoints", 1, SERIES_MAX_POINTS,
                          f"merge neighbouring points into at most this many (1..{SERIES_MAX_POINTS})"),
            integer_query("part", 0, settings.PERFMON_SPLIT_MAX_PARTS - 1, "a split run: only this part's own series (its index; 404 when the "
                                                "run has no such part); default: the parts merged"),
        ],
        responses={200: RunSeriesSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803
        run = run_for_tenant(self.tenant, runId)
        after = ascii_integer(request.query_params.get("after", "-1"))
        if after is None or not -1 <= after <= BIGINT_MAX:
            raise ValidationError({"after": ["A whole number (the last seq you have, -1 for all) is required."]})
        max_points = None
        if "maxPoints" in request.query_params:
            raw = request.query_params["maxPoints"]
            max_points = whole_number(raw)
            if max_points is None or not 1 <= max_points <= SERIES_MAX_POINTS:
                raise ValidationError({"maxPoints": [f"A whole number from 1 to {SERIES_MAX_POINTS}."]})
        part = part_index(request.query_params)
        if part is not None and (not run.is_split or part >= run.parts.count()):
            raise NotFound(f"Run {run.pk} has no part {part}")
        points = series.points(self.tenant, run, after_seq=after, limit=SERIES_MAX_POINTS, max_points=max_points,
                               part=part)
        return Response(RunSeriesSerializer({"run_status": run.status, "points": points}).data)


class RunCancelSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.CharField(help_text="cancelled (it had not started) or running (the agent stops it)")


class RunCancelView(MonitorApiView):
    @extend_schema(
        summary="Cancel a run",
        description=(
            "Not in the original document; the /api counterpart of DELETE /api/v1/tasks/{id}. A run no agent "
            "has started ends cancelled at once; a running one is stopped by its agent within seconds and "
            "then reads cancelled. 409 when the run has already ended."
        ),
        request=None,
        parameters=[_RUN_ID],
        responses={202: RunCancelSerializer, **errors(404, 409)},
    )
    def post(self, request: Request, runId: str) -> Response:  # noqa: N803
        run = run_for_tenant(self.tenant, runId)
        run = cancel_run(tenant=self.tenant, run_id=run.pk, actor=self.actor)
        return Response(RunCancelSerializer({"run_id": run.pk, "status": run.status}).data, status=202)
