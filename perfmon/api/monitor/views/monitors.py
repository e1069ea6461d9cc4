"""Monitors: list, create (multipart or JSON), get, patch, delete, manual run, runs list."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiRequest,
    extend_schema,
)
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.common.pagination import parse_window, window_parameters
from perfmon.api.monitor.casing import BODY_PARSERS
from perfmon.api.monitor.schema import ID_PREFIX_PARAM, errors, path_id
from perfmon.api.monitor.serializers import (
    MonitorDetailSerializer,
    MonitorJsonCreateSerializer,
    MonitorMultipartCreateSerializer,
    MonitorSerializer,
    MonitorWriteSerializer,
    RunPageSerializer,
    RunRequestedSerializer,
    RunSerializer,
)
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.monitors.selectors import monitor_for_tenant, monitors_for_tenant
from perfmon.monitors.services import create_monitor, delete_monitor, update_monitor
from perfmon.runs.models import RunTrigger
from perfmon.runs.selectors import runs_of_monitor
from perfmon.runs.services import request_run

RUNS_DEFAULT_LIMIT = 20
RUNS_MAX_LIMIT = 100

_MONITOR_ID = path_id("monitorId", description="the monitor's id (a UUID)")
# multipart sends thresholds[latencyMs]=2000 and parameters[KEY]=value.
_DEEP = {"style": "deepObject", "explode": True}
_JSON_EXAMPLE = OpenApiExample(
    "JSON with base64 script",
    value={
        "name": "Login flow", "schedule": "*/15 * * * *", "tool": "k6",
        "scriptContent": "ZXhwb3J0IGRlZmF1bHQgZnVuY3Rpb24gKCkge30K",
        "thresholds": {"latencyMs": 2000, "errorRatePercent": 5.0},
        "parameters": {"TARGET_HOST": "https://api.example.com"},
    },
    request_only=True,
)


def _write_serializer(view: MonitorApiView, *, partial: bool) -> MonitorWriteSerializer:
    return view.validated_body(MonitorWriteSerializer, partial=partial, context={"tenant": view.tenant})


class MonitorListView(MonitorApiView):
    parser_classes = BODY_PARSERS

    @extend_schema(
        summary="List monitors",
        description=(
            "Every monitor of the key's tenant, by name, as a bare JSON array. `idPrefix` (added) keeps "
            "those whose id starts with it, to resolve a shortened id."
        ),
        parameters=[ID_PREFIX_PARAM],
        responses={200: MonitorSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        monitors = self.narrow_to_id_prefix(monitors_for_tenant(self.tenant))
        return Response(MonitorSerializer(monitors, many=True).data)

    @extend_schema(
        summary="Create monitor",
        description=(
            "multipart/form-data with bracket keys (`thresholds[latencyMs]=2000`, `parameters[KEY]=value`) "
            "and the script as the file `script`, or JSON with the script as base64 `scriptContent`. "
            "403 past the license's monitor limit or with an expired license; 409 when the schedule is "
            "more frequent than the license tier allows."
        ),
        request={
            "multipart/form-data": OpenApiRequest(
                MonitorMultipartCreateSerializer, encoding={"thresholds": _DEEP, "parameters": _DEEP}
            ),
            "application/json": OpenApiRequest(MonitorJsonCreateSerializer, examples=[_JSON_EXAMPLE]),
        },
        responses={201: MonitorDetailSerializer, **errors(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        serializer = _write_serializer(self, partial=False)
        monitor = create_monitor(tenant=self.tenant, **serializer.service_kwargs())
        body = MonitorDetailSerializer(monitor).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": self.link(f"monitors/{monitor.pk}")})


class MonitorDetailView(MonitorApiView):
    parser_classes = BODY_PARSERS

    @extend_schema(
        summary="Get monitor",
        parameters=[_MONITOR_ID],
        responses={200: MonitorDetailSerializer, **errors(404)},
    )
    def get(self, request: Request, monitorId: str) -> Response:  # noqa: N803 - the documented name
        monitor = monitor_for_tenant(self.tenant, monitorId, with_script=True)
        return Response(MonitorDetailSerializer(monitor).data)

    @extend_schema(
        summary="Update monitor",
        description=(
            "Any subset of the create fields. `thresholds` and `parameters` replace the whole object. "
            "Unknown fields are a 400 naming them."
        ),
        parameters=[_MONITOR_ID],
        request={
            "application/json": MonitorJsonCreateSerializer,
            "multipart/form-data": OpenApiRequest(
                MonitorMultipartCreateSerializer, encoding={"thresholds": _DEEP, "parameters": _DEEP}
            ),
        },
        responses={200: MonitorDetailSerializer, **errors(400, 404, 409)},
    )
    def patch(self, request: Request, monitorId: str) -> Response:  # noqa: N803
        monitor = monitor_for_tenant(self.tenant, monitorId)
        serializer = _write_serializer(self, partial=True)
        monitor = update_monitor(tenant=self.tenant, monitor=monitor, **serializer.service_kwargs())
        return Response(MonitorDetailSerializer(monitor).data)

    @extend_schema(
        summary="Delete monitor",
        description="Deletes the monitor, its script and its alerts; its runs stay in the history.",
        parameters=[_MONITOR_ID],
        responses={204: None, **errors(404)},
    )
    def delete(self, request: Request, monitorId: str) -> Response:  # noqa: N803
        monitor = monitor_for_tenant(self.tenant, monitorId)
        delete_monitor(tenant=self.tenant, monitor=monitor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MonitorRunView(MonitorApiView):
    @extend_schema(
        summary="Trigger manual run",
        description=(
            "Queues a run at once and answers 202; the run is dispatched to an agent asynchronously. "
            "409 while a run of the monitor is queued or running. `status` is `error` when no agent "
            "can take the run (the run is kept with the reason)."
        ),
        parameters=[_MONITOR_ID],
        request=None,
        responses={202: RunRequestedSerializer, **errors(404, 409)},
    )
    def post(self, request: Request, monitorId: str) -> Response:  # noqa: N803
        monitor = monitor_for_tenant(self.tenant, monitorId, with_script=True)
        run = request_run(tenant=self.tenant, monitor=monitor, trigger=RunTrigger.MANUAL, actor=self.actor)
        return Response(
            RunRequestedSerializer({"run_id": run.pk, "status": run.status}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": self.link(f"runs/{run.pk}")},
        )


class MonitorRunsView(MonitorApiView):
    @extend_schema(
        summary="List runs for a monitor",
        description=f"Newest first. `limit` 1..{RUNS_MAX_LIMIT} (default {RUNS_DEFAULT_LIMIT}), `offset` >= 0.",
        parameters=[
            _MONITOR_ID,
            *window_parameters(default_limit=RUNS_DEFAULT_LIMIT, max_limit=RUNS_MAX_LIMIT),
        ],
        responses={200: RunPageSerializer, **errors(400, 404)},
    )
    def get(self, request: Request, monitorId: str) -> Response:  # noqa: N803
        monitor = monitor_for_tenant(self.tenant, monitorId)
        window = parse_window(request.query_params, default_limit=RUNS_DEFAULT_LIMIT, max_limit=RUNS_MAX_LIMIT)
        runs = runs_of_monitor(self.tenant, monitor)
        return Response(
            {
                "runs": RunSerializer(window.slice(runs), many=True).data,
                "total": runs.count(),
                "limit": window.limit,
                "offset": window.offset,
            }
        )
