"""OpenAPI pieces of /api: the security schemes and the documented error answers."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes

from perfmon.api.common.serializers import ErrorSerializer

_MEANING = {
    400: "Invalid request (per-field messages in details)",
    401: "Missing, invalid or revoked API key",
    403: "Not allowed (license limit reached, expired license, or role)",
    404: "Not found (also for ids that are not UUIDs, and other tenants' rows)",
    409: "Conflict",
    429: "Rate limit reached; Retry-After says when to retry",
}


def errors(*codes: int, **meanings: str) -> dict[int, OpenApiResponse]:
    """Error responses for ``@extend_schema(responses=...)``; 401 and 429 apply to every endpoint."""
    chosen = sorted({401, 429, *codes})
    return {
        code: OpenApiResponse(ErrorSerializer, description=meanings.get(f"e{code}", _MEANING[code]))
        for code in chosen
    }


def path_id(name: str, kind=OpenApiTypes.UUID, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.PATH, description=description)


ID_PREFIX_PARAM = OpenApiParameter(
    "idPrefix", {"type": "string", "pattern": "^-*([0-9a-fA-F]-*){6,32}$"},
    description="only ids that start with these 6 to 32 hexadecimal digits (dashes ignored): a shortened id",
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "perfmon.api.monitor.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "A tenant API key (pmk_…); it acts as an admin of its tenant.",
        }


class OperatorSessionScheme(OpenApiAuthenticationExtension):
    target_class = "perfmon.api.monitor.authentication.OperatorSessionAuthentication"
    name = "OperatorSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "A signed-in staff user's session (browsable API; CSRF token required for writes).",
        }
