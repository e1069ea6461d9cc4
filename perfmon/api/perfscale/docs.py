"""Interactive docs of /api/v1: the OpenAPI schema and Swagger UI at /swagger-ui/ and /api/v1/docs/ (mounted at the root).

The schema is generated from /api/v1's routes only and declares the
Bearer scheme, so Swagger UI's "Authorize" takes an access token.
"""

from django.urls import path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularJSONAPIView

from perfmon.api.common.views import SwaggerView

SCHEMA_SETTINGS = {
    "TITLE": "perfscale API",
    "DESCRIPTION": (
        "The perfscale API (/api/v1) of the perfmon control plane. Authenticate with an OIDC access token: "
        "`Authorization: Bearer <access_token>` (docs/auth.md)."
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Enums stay inline: the three "status" enums of this surface need no shared component names
    # (drf-spectacular caches ENUM_NAME_OVERRIDES process-wide, so per-view overrides are unreliable).
    "POSTPROCESSING_HOOKS": ["perfmon.api.common.openapi.envelope_answers"],
}


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "perfmon.api.perfscale.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from the OpenID provider (Keycloak realm perfscale).",
        }


class PerfscaleSchemaView(SpectacularJSONAPIView):
    urlconf = "perfmon.api.perfscale.schema_urls"
    custom_settings = SCHEMA_SETTINGS


_swagger_ui = SwaggerView.as_view(url_name="perfscale-schema", title=SCHEMA_SETTINGS["TITLE"])

urlpatterns = [
    path("api-docs/openapi.json", PerfscaleSchemaView.as_view(), name="perfscale-schema"),
    path("swagger-ui/", _swagger_ui, name="perfscale-swagger-ui"),
    # Beside /api/docs/ of the other surface, where users look for it first.
    path("api/v1/docs/", _swagger_ui, name="perfscale-docs"),
]
