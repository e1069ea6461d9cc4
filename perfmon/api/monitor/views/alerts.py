"""Alerts: the history (newest first) and acknowledging one."""

from __future__ import annotations

from datetime import UTC

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.alerts.models import AlertState
from perfmon.alerts.selectors import alert_for_tenant, alerts_for_tenant
from perfmon.alerts.services import acknowledge_alert
from perfmon.api.common.pagination import parse_window, window_parameters
from perfmon.api.monitor.schema import errors, path_id
from perfmon.api.monitor.serializers import AcknowledgeSerializer, AlertSerializer
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.core.errors import ValidationFailed
from perfmon.core.ids import as_uuid
from perfmon.monitors.selectors import monitor_for_tenant

ALERTS_DEFAULT_LIMIT = 50
ALERTS_MAX_LIMIT = 500


def _moment(params, name: str):
    """The aware timestamp in query parameter ``name`` (None when absent). Raises ValidationFailed."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        moment = parse_datetime(raw.replace(" ", "+"))  # a bare "+" in a query string arrives as a space
        # In UTC: PostgreSQL takes offsets up to 15:59 only, Python's go to 23:59.
        moment = moment.astimezone(UTC) if moment is not None and moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        message = "Must be an ISO 8601 timestamp with a time zone, e.g. 2026-11-23T00:00:00Z."
        raise ValidationFailed(f"{name}: {message}", details={name: [message]})
    return moment


class AlertListView(MonitorApiView):
    @extend_schema(
        summary="List alert history",
        description=(
            "The tenant's alerts, newest first, as a bare JSON array. `monitorId` narrows to one monitor "
            "(404 when it is not one of the tenant's), `state` to open/acknowledged/resolved, `since` and "
            "`until` (ISO 8601 timestamps) to alerts opened in [since, until)."
        ),
        parameters=[
            OpenApiParameter("monitorId", OpenApiTypes.UUID, description="only this monitor's alerts"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=AlertState.values),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="opened at or after"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="opened before"),
            *window_parameters(default_limit=ALERTS_DEFAULT_LIMIT, max_limit=ALERTS_MAX_LIMIT),
        ],
        responses={200: AlertSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        window = parse_window(params, default_limit=ALERTS_DEFAULT_LIMIT, max_limit=ALERTS_MAX_LIMIT)
        monitor = None
        if "monitorId" in params:
            if as_uuid(params["monitorId"]) is None:
                raise ValidationFailed("monitorId: Must be a UUID.", details={"monitorId": ["Must be a UUID."]})
            monitor = monitor_for_tenant(self.tenant, params["monitorId"])
        state = params.get("state")
        if state is not None and state not in AlertState.values:
            message = f"Must be one of {', '.join(AlertState.values)}."
            raise ValidationFailed(f"state: {message}", details={"state": [message]})
        since, until = _moment(params, "since"), _moment(params, "until")
        alerts = window.slice(alerts_for_tenant(self.tenant, monitor=monitor, state=state, since=since, until=until))
        return Response(AlertSerializer(alerts, many=True).data)


class AlertAcknowledgeView(MonitorApiView):
    @extend_schema(
        summary="Acknowledge alert",
        description=(
            "Stores the note with who acknowledged and when. Acknowledging again keeps the first time "
            "and author and replaces the note; a resolved alert answers 409."
        ),
        parameters=[path_id("alertId", description="the alert's id (a UUID)")],
        request=AcknowledgeSerializer,
        responses={200: AlertSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, alertId: str) -> Response:  # noqa: N803 - the documented name
        alert = alert_for_tenant(self.tenant, alertId)
        serializer = self.validated_body(AcknowledgeSerializer)
        alert = acknowledge_alert(
            tenant=self.tenant,
            alert=alert,
            note=serializer.validated_data.get("note", ""),
            actor=self.actor,
            user=request.user.user,
        )
        return Response(AlertSerializer(alert).data)
