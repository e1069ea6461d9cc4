"""The domain's own errors, and the one envelope every error is answered in.

Services raise these; the API facades map them (and DRF's own errors) to the
envelope and status code in one place (perfmon/api/common/errors.py); plain
Django views and error handlers answer with ``json_error``.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def envelope(status_code: int, message: str, *, code: str | None = None, details=None) -> dict:
    """``{"error": code, "message": message, "details": details}``; ``details`` only when given."""
    body = {"error": code or _CODES.get(status_code, "error"), "message": message}
    if details:
        body["details"] = details
    return body


def json_error(status_code: int, message: str) -> JsonResponse:
    """The envelope for plain Django views and handlers (404/500 outside DRF)."""
    return JsonResponse(envelope(status_code, message), status=status_code)


DATABASE_UNAVAILABLE = "The database is unavailable; retry in a few seconds."
DATABASE_RETRY_AFTER_S = 5


def is_database_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database could not be reached (not that a query was wrong).

    psycopg raises OperationalError when the server is down, restarting or
    refused the connection, and InterfaceError on a connection that broke
    under it; both pass once PostgreSQL is back (Django drops a connection
    that failed at the end of the request), so the answer is a 503 to retry,
    never a 500.
    """
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


class PerfmonError(Exception):
    """Base of every error a service raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(PerfmonError):
    code = "invalid_request"
    status = 400

    @classmethod
    def of(cls, details: dict[str, Any]) -> ValidationFailed:
        """The error for per-field ``details`` (a list of messages, or an object of them per key,
        for each field); its message repeats the first problem ("parameters: BAD NAME: ...")."""
        path, problem = [], details
        while isinstance(problem, dict) and problem:
            key, problem = next(iter(problem.items()))
            path.append(str(key))
        message = problem[0] if isinstance(problem, list) and problem else "invalid value"
        return cls(": ".join([*path, message]), details=details)


class NotFound(PerfmonError):
    code = "not_found"
    status = 404


class PermissionDenied(PerfmonError):
    code = "forbidden"
    status = 403


class LicenseLimitReached(PerfmonError):
    code = "license_limit"
    status = 403


class Conflict(PerfmonError):
    code = "conflict"
    status = 409


class UnscopedQuery(RuntimeError):
    """A query of tenant data was evaluated without naming its tenant.

    Not a PerfmonError: it is a programming mistake, never a user's.
    """
