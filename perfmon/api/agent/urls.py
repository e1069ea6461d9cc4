"""Routes of the agent API, mounted at /agent-api/v1/."""

from django.urls import path

from perfmon.api.agent import views

urlpatterns = [
    path("enroll", views.EnrollView.as_view(), name="agent-enroll"),
    path("heartbeat", views.HeartbeatView.as_view(), name="agent-heartbeat"),
    path("runs/<str:run_id>/claim", views.ClaimView.as_view(), name="agent-claim"),
    path("runs/<str:run_id>/ready", views.ReadyView.as_view(), name="agent-ready"),
    path("runs/<str:run_id>/series", views.SeriesView.as_view(), name="agent-series"),
    path("runs/<str:run_id>/logs", views.LogsView.as_view(), name="agent-logs"),
    path("runs/<str:run_id>/result", views.ResultView.as_view(), name="agent-result"),
]
