"""One error envelope for both API surfaces (``perfmon.core.errors.envelope``).

Every error answers ``{"error": "<code>", "message": "…", "details": {…}}``;
``details`` appears only with per-field errors. Unexpected exceptions
become a 500 in the same envelope (logged with their traceback), never an
HTML page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from perfmon.core.errors import (
    DATABASE_RETRY_AFTER_S,
    DATABASE_UNAVAILABLE,
    PerfmonError,
    envelope,
    is_database_outage,
)

log = logging.getLogger(__name__)


def _first_message(detail) -> str:
    """A readable one-line summary of DRF's nested error detail."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field in ("non_field_errors", "detail") else f"{field}: {inner}"
        return "Invalid request"
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid request"
    return str(detail)


def envelope_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: the envelope for every error, 500 included."""
    if isinstance(exc, PerfmonError):
        return Response(envelope(exc.status, exc.message, code=exc.code, details=exc.details), status=exc.status)
    # Django refuses oversized or over-long bodies while DRF parses them: the envelope, not a 500.
    if isinstance(exc, RequestDataTooBig):
        message = f"The request body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        return Response(envelope(413, message, code="payload_too_large"), status=413)
    if is_database_outage(exc):
        log.warning("database unavailable in %s: %s", context.get("view").__class__.__name__, exc)
        return Response(envelope(503, DATABASE_UNAVAILABLE), status=503,
                        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        log.exception("unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(envelope(500, "Internal server error"), status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    if isinstance(exc, exceptions.ValidationError):
        details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        body = envelope(400, _first_message(detail), details=details)
    else:
        body = envelope(response.status_code, _first_message(detail))
    response.data = body
    return response

