"""Routes of the perf-monitor surface, mounted at /api/.

Paths are exactly the documented ones, without trailing slashes
(``/api/monitors``, ``/api/monitors/{monitorId}``, …); ids are matched as
any string so a malformed id reaches the view and answers 404 in the
envelope. The schema covers only this surface (schema_urls.py).
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from perfmon.api.common.views import SwaggerView
from perfmon.api.monitor import schema  # noqa: F401 - registers the security schemes
from perfmon.api.monitor.views import agents, alerts, base, breakdown, license, monitors, runs

urlpatterns = [
    path("", base.ApiRoot.as_view(), name="api-root"),
    path("monitors", monitors.MonitorListView.as_view(), name="api-monitors"),
    path("monitors/<str:monitorId>", monitors.MonitorDetailView.as_view(), name="api-monitor"),
    path("monitors/<str:monitorId>/run", monitors.MonitorRunView.as_view(), name="api-monitor-run"),
    path("monitors/<str:monitorId>/runs", monitors.MonitorRunsView.as_view(), name="api-monitor-runs"),
    path("runs", runs.RunListView.as_view(), name="api-runs"),
    # Before runs/<runId>, which would take "compare" for a run id.
    path("runs/compare", breakdown.RunCompareView.as_view(), name="api-runs-compare"),
    path("runs/<str:runId>", runs.RunDetailView.as_view(), name="api-run"),
    path("runs/<str:runId>/parts", runs.RunPartsView.as_view(), name="api-run-parts"),
    path("runs/<str:runId>/logs", runs.RunLogsView.as_view(), name="api-run-logs"),
    path("runs/<str:runId>/series", runs.RunSeriesView.as_view(), name="api-run-series"),
    path("runs/<str:runId>/cancel", runs.RunCancelView.as_view(), name="api-run-cancel"),
    path("runs/<str:runId>/requests", breakdown.RunRequestsView.as_view(), name="api-run-requests"),
    path("runs/<str:runId>/errors", breakdown.RunErrorsView.as_view(), name="api-run-errors"),
    path("runs/<str:runId>/checks", breakdown.RunChecksView.as_view(), name="api-run-checks"),
    path("runs/<str:runId>/histogram", breakdown.RunHistogramView.as_view(), name="api-run-histogram"),
    path("alerts", alerts.AlertListView.as_view(), name="api-alerts"),
    path("alerts/<str:alertId>/acknowledge", alerts.AlertAcknowledgeView.as_view(), name="api-alert-acknowledge"),
    path("agents", agents.AgentListView.as_view(), name="api-agents"),
    path("agents/<str:agentId>/metrics", agents.AgentMetricsView.as_view(), name="api-agent-metrics"),
    path("settings/license", license.LicenseView.as_view(), name="api-license"),
    path(
        "schema/",
        SpectacularAPIView.as_view(urlconf="perfmon.api.monitor.schema_urls", custom_settings={
            "TITLE": "perfmon perf-monitor API",
            "DESCRIPTION": "The perf-monitor API (/api): X-API-Key authentication, camelCase JSON. "
                           "Errors: {\"error\": code, \"message\": text, \"details\": {field: [messages]}}.",
        }),
        name="api-schema",
    ),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
