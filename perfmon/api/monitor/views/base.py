"""The base of every /api view and the API root."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import QueryDict
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.common.casing import camel
from perfmon.api.common.fields import form_to_dict, reject_unknown_fields, reject_wrong_json_types
from perfmon.api.common.permissions import TenantRolePermission
from perfmon.api.common.views import PrincipalView
from perfmon.api.monitor.authentication import (
    TENANT_PARAM,
    ApiKeyAuthentication,
    OperatorSessionAuthentication,
)
from perfmon.api.monitor.casing import (
    CamelCaseAutoSchema,
    CamelCaseJSONParser,
    CamelCaseJSONRenderer,
    camel_errors,
)
from perfmon.api.monitor.schema import errors
from perfmon.api.monitor.throttling import ApiKeyRateThrottle
from perfmon.core.errors import ValidationFailed
from perfmon.core.ids import with_id_prefix


class MonitorApiView(PrincipalView):
    """Base of every /api view: X-API-Key (or a staff session), scoped to one tenant, rate limited.

    Subclasses reach data only through ``self.tenant``, so no view can
    forget the tenant filter.
    """

    # Views and serializers work in snake_case; the parsers, the renderer and the
    # schema speak camelCase (casing.py). (Docstrings here show in the schema.)

    authentication_classes = [ApiKeyAuthentication, OperatorSessionAuthentication]
    permission_classes = [TenantRolePermission]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [CamelCaseJSONParser]
    renderer_classes = [CamelCaseJSONRenderer, BrowsableAPIRenderer]
    schema = CamelCaseAutoSchema()

    def handle_exception(self, exc):
        # The envelope's details are rendered as they are (they may name data keys), so
        # serializer errors get the fields' wire names here.
        if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, Mapping):
            exc.detail = camel_errors(exc.detail)
        return super().handle_exception(exc)

    def validated_body(self, serializer_class, *, partial: bool = False, context: dict | None = None):
        """The serializer over the request body (bracket keys unfolded), validated; unknown fields are a 400."""
        data = form_to_dict(self.request.data)
        serializer = serializer_class(data=data, partial=partial, context=context or {})
        # The parser made every name camelCase-born, so camel() gives it back as it was sent.
        reject_unknown_fields(dict.fromkeys(map(camel, data)), [camel(name) for name in serializer.fields])
        if not isinstance(self.request.data, QueryDict):
            reject_wrong_json_types(serializer.fields, data)
        serializer.is_valid(raise_exception=True)
        return serializer

    def narrow_to_id_prefix(self, queryset):
        """``queryset`` narrowed by the ``idPrefix`` query parameter, when given; a bad prefix is a 400."""
        prefix = self.request.query_params.get("idPrefix")
        if prefix is None:
            return queryset
        try:
            return with_id_prefix(queryset, prefix)
        except ValueError as exc:
            raise ValidationFailed(f"idPrefix: {exc}", details={"idPrefix": [str(exc)]}) from None

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
