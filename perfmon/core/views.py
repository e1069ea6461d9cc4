"""Health check and the error pages outside the REST framework."""

from __future__ import annotations

import logging
import sys
import time

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from perfmon.core.errors import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE, is_database_outage, json_error

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "unreachable" here
        log.warning("healthz: database check failed: %s", exc)
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "vendor": connection.vendor, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_broker() -> dict:
    from perfmon.celery import app

    started = time.perf_counter()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            transport = conn.transport_cls
    except Exception as exc:  # kombu raises many kinds; all mean "unreachable"
        log.warning("healthz: broker check failed: %s", exc)
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "transport": str(transport), "ms": round((time.perf_counter() - started) * 1000, 1)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, else 503; the body says which failed."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return JsonResponse(body, status=200 if healthy else 503)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api") or request.path.startswith("/agent-api")


def not_found(request: HttpRequest, exception=None):
    if _wants_json(request):
        return json_error(404, "Not found")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    # Called while Django handles the exception: a database outage outside the
    # REST framework (a middleware's session or audit query, a dashboard page)
    # is a 503 to retry, as it is inside it.
    if is_database_outage(sys.exc_info()[1]):
        if _wants_json(request):
            response = json_error(503, DATABASE_UNAVAILABLE)
        else:
            response = HttpResponse(f"{DATABASE_UNAVAILABLE}\n", status=503, content_type="text/plain")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if _wants_json(request):
        return json_error(500, "Internal server error")
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception=None):
    if _wants_json(request):
        return json_error(400, "Bad request")
    return defaults.bad_request(request, exception)


__all__ = ["bad_request", "healthz", "not_found", "server_error"]
