"""Top-level routes: health, admin, and the API surfaces."""

from django.contrib import admin
from django.urls import include, path

from perfmon.core import views as core_views
from perfmon.operations import views as operations_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", operations_views.metrics, name="metrics"),  # Prometheus (docs/operations.md)
    path("admin/", admin.site.urls),
    path("agent-api/v1/", include("perfmon.api.agent.urls")),
    path("api/v1/", include("perfmon.api.perfscale.urls")),
    path("api/", include("perfmon.api.monitor.urls")),
    path("", include("perfmon.api.perfscale.docs")),  # /swagger-ui/ and its schema
    path("oidc/", include("mozilla_django_oidc.urls")),  # browser login through the OpenID provider
    path("", include("perfmon.web.urls")),  # the dashboard: monitors list at /
]

handler400 = "perfmon.core.views.bad_request"
handler404 = "perfmon.core.views.not_found"
handler500 = "perfmon.core.views.server_error"
