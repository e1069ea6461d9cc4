"""The /api surface mounted where it is served, so the schema's paths read /api/monitors, …

Used by /api/schema/ and by ``manage.py spectacular --urlconf perfmon.api.monitor.schema_urls``.
"""

from django.urls import include, path

urlpatterns = [path("api/", include("perfmon.api.monitor.urls"))]
