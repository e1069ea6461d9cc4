"""Routes of the perfscale surface, mounted at /api/v1/ (paths exactly as the document has them)."""

from django.urls import path

from perfmon.api.perfscale import views

urlpatterns = [
    path("auth/me", views.AuthMeView.as_view(), name="v1-auth-me"),
    path("machines", views.MachineListView.as_view(), name="v1-machines"),
    path("machines/<str:machine_id>", views.MachineDetailView.as_view(), name="v1-machine"),
    path("tests", views.TestListView.as_view(), name="v1-tests"),
    path("tests/<str:test_id>", views.TestDetailView.as_view(), name="v1-test"),
    path("tasks", views.TaskListView.as_view(), name="v1-tasks"),
    path("tasks/<str:task_id>", views.TaskDetailView.as_view(), name="v1-task"),
]
