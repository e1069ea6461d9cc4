"""Routes of the perf-monitor surface, mounted at /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from perfmon.api.monitor import views

urlpatterns = [
    path("", views.ApiRoot.as_view(), name="api-root"),
    path("schema/", SpectacularAPIView.as_view(urlconf="perfmon.api.monitor.urls"), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
