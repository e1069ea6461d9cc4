"""The domain's own errors. Services raise these; each API facade maps them to
its envelope and status code in one place (perfmon/api/common/errors.py)."""

from __future__ import annotations

from typing import Any


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
