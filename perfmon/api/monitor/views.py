"""Views of the perf-monitor surface (/api)."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from perfmon.api.monitor.authentication import ApiKeyAuthentication


class MonitorApiView(APIView):
    """Base of every /api view: X-API-Key only, scoped to the key's tenant."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    @property
    def tenant(self):
        return self.request.user.tenant


class ApiRoot(MonitorApiView):
    """The entry point of /api: the tenant the key belongs to and the API's resources."""

    def get(self, request: Request) -> Response:
        base = request.build_absolute_uri("/api/")
        return Response(
            {
                "tenant": self.tenant.slug,
                "monitors": f"{base}monitors",
                "alerts": f"{base}alerts",
                "agents": f"{base}agents",
                "license": f"{base}settings/license",
                "schema": f"{base}schema/",
                "docs": f"{base}docs/",
            }
        )
