"""The base of every /api view and the API root."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from perfmon.api.common.permissions import TenantRolePermission
from perfmon.api.monitor.authentication import (
    TENANT_PARAM,
    ApiKeyAuthentication,
    OperatorSessionAuthentication,
)
from perfmon.api.monitor.schema import errors
from perfmon.api.monitor.throttling import ApiKeyRateThrottle


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class MonitorApiView(APIView):
    """Base of every /api view: X-API-Key (or a staff session), scoped to one tenant, rate limited.

    Subclasses reach data only through ``self.tenant``, so no view can
    forget the tenant filter.
    """

    authentication_classes = [ApiKeyAuthentication, OperatorSessionAuthentication]
    permission_classes = [TenantRolePermission]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [JSONParser]

    def handle_exception(self, exc):
        # Django refuses oversized bodies while DRF parses them; answer in the envelope, not a 500.
        if isinstance(exc, RequestDataTooBig):
            exc = PayloadTooLarge(f"The request body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
        elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
            exc = exceptions.ParseError(str(exc))
        return super().handle_exception(exc)

    @property
    def tenant(self):
        return self.request.user.tenant

    @property
    def actor(self) -> str:
        return self.request.user.actor

    def link(self, path: str) -> str:
        """An absolute /api URL; an operator's ``?tenant=`` choice is carried along."""
        url = self.request.build_absolute_uri(f"/api/{path}")
        slug = self.request.query_params.get(TENANT_PARAM)
        if slug and self.request.user.api_key is None:
            url += f"?{TENANT_PARAM}={slug}"
        return url


class ApiRoot(MonitorApiView):
    """The entry point of /api: the tenant the key belongs to and the API's resources."""

    @extend_schema(
        summary="API root",
        responses={
            200: inline_serializer(
                "ApiRoot",
                {
                    name: serializers.CharField()
                    for name in ("tenant", "monitors", "alerts", "agents", "license", "schema", "docs")
                },
            ),
            **errors(),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "tenant": self.tenant.slug,
                "monitors": self.link("monitors"),
                "alerts": self.link("alerts"),
                "agents": self.link("agents"),
                "license": self.link("settings/license"),
                "schema": self.link("schema/"),
                "docs": self.link("docs/"),
            }
        )
