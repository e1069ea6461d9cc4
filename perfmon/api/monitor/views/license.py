"""Settings: the tenant's license (read, and install a new key)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.monitor.schema import errors
from perfmon.api.monitor.serializers import LicenseSerializer, LicenseUpdateSerializer
from perfmon.api.monitor.views.base import MonitorApiView
from perfmon.monitors.selectors import monitor_count
from perfmon.tenants.services import effective_license, install_license


class LicenseView(MonitorApiView):
    # Installing a license is tenant administration.
    admin_methods = frozenset({"POST"})

    def _body(self) -> dict:
        license_ = effective_license(self.tenant)
        return LicenseSerializer(
            {
                "tier": license_.tier,
                "monitor_limit": license_.monitor_limit,
                "monitors_used": monitor_count(self.tenant),
                "valid_until": license_.valid_until,
                "licensed": license_.licensed,
                "expired": license_.expired,
            }
        ).data

    @extend_schema(
        summary="Get license info",
        description="`monitorsUsed` is counted live; without a license key the tenant has the community tier.",
        responses={200: LicenseSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        return Response(self._body())

    @extend_schema(
        summary="Update license",
        description="Verifies the key (signature, tenant, expiry) and installs it; 400 says why a key is refused.",
        request=LicenseUpdateSerializer,
        responses={200: LicenseSerializer, **errors(400, 403)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.validated_body(LicenseUpdateSerializer)
        install_license(tenant=self.tenant, token=serializer.validated_data["license_key"])
        return Response(self._body())
