"""Runs: one run, and its log streamed as plain text."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.monitor.schema import errors, path_id
from perfmon.api.monitor.serializers import RunSerializer
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.runs.selectors import log_texts, run_for_tenant

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


class RunDetailView(MonitorApiView):
    @extend_schema(summary="Get run", parameters=[_RUN_ID], responses={200: RunSerializer, **errors(404)})
    def get(self, request: Request, runId: str) -> Response:  # noqa: N803 - the documented name
        return Response(RunSerializer(run_for_tenant(self.tenant, runId)).data)


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
