"""The URL conf the /api/v1 OpenAPI schema is generated from: the perfscale routes only."""

from django.urls import include, path

urlpatterns = [path("api/v1/", include("perfmon.api.perfscale.urls"))]
