"""GET /metrics in the Prometheus text format (docs/operations.md)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from perfmon.operations.metrics import registry

CACHE_KEY = "perfmon:metrics:v1"


def _authorized(request: HttpRequest) -> bool:
    token = settings.PERFMON_METRICS_TOKEN
    if not token:
        return True  # open by default: put it behind the network or set the token (documented)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = JsonResponse({"error": "unauthorized", "message": "/metrics needs Authorization: Bearer <token>"},
                                status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    seconds = settings.PERFMON_METRICS_CACHE_SECONDS
    body = cache.get(CACHE_KEY) if seconds > 0 else None
    if body is None:
        body = generate_latest(registry())
        if seconds > 0:
            cache.set(CACHE_KEY, body, seconds)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
