"""The dashboard, mounted at the site root: the monitors list is ``/``."""

from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from perfmon.web.views import account, agents, alerts, compare, monitors, runs

app_name = "web"

urlpatterns = [
    path("", monitors.monitor_list, name="monitors"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, error pages).
    path("favicon.ico", RedirectView.as_view(url=static("perfmon/web/favicon.svg"), permanent=True)),
    path("login/", account.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="web:login"), name="logout"),
    path("tenant/", account.switch_tenant, name="switch-tenant"),
    path("monitors/new/", monitors.monitor_create, name="monitor-create"),
    path("monitors/<str:monitor_id>/", monitors.monitor_detail, name="monitor"),
    path("monitors/<str:monitor_id>/edit/", monitors.monitor_edit, name="monitor-edit"),
    path("monitors/<str:monitor_id>/delete/", monitors.monitor_delete, name="monitor-delete"),
    path("monitors/<str:monitor_id>/run/", monitors.monitor_run, name="monitor-run"),
    path("monitors/<str:monitor_id>/baseline/", monitors.monitor_baseline, name="monitor-baseline"),
    path("runs/", runs.run_list, name="runs"),
    path("runs/compare/", compare.run_compare, name="run-compare"),  # before runs/<id>/: "compare" is no id
    path("runs/<str:run_id>/", runs.run_detail, name="run"),
    path("runs/<str:run_id>/live.json", runs.run_live, name="run-live"),
    path("runs/<str:run_id>/log.txt", runs.run_log, name="run-log"),
    path("runs/<str:run_id>/series.csv", runs.run_series_csv, name="run-series-csv"),
    path("runs/<str:run_id>/requests.csv", runs.run_requests_csv, name="run-requests-csv"),
    path("runs/<str:run_id>/cancel/", runs.run_cancel, name="run-cancel"),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/<str:alert_id>/acknowledge/", alerts.alert_acknowledge, name="alert-acknowledge"),
    path("agents/", agents.agent_list, name="agents"),
    path("agents/<str:agent_id>/", agents.agent_detail, name="agent"),
]
