"""One request as every adapter reports it, and the one error rule.

The error rule is the same for every tool, so results of different tools can
be compared and judged by the same thresholds: a request is an error if the
tool itself marked it failed, or its HTTP status is >= 400, or it got no
response at all (status 0). Locust, for instance, does not mark a 500 failed
when the user script catches the response; Artillery does not count a 500 as
an error at all; this rule counts both.
"""

from __future__ import annotations

from dataclasses import dataclass


def is_error(status: int, failed: bool = False) -> bool:
    """Return True if a request with this status/failed flag counts as an error."""
    return failed or status >= 400 or status == 0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request.

    ``ts`` is the epoch time (seconds) at which the request STARTED,
    ``latency_ms`` the tool's own measure of its elapsed time, ``status`` the
    HTTP status (0 = no response), ``failed`` whether the tool marked it
    failed, ``name`` the request/sampler label, ``method`` the HTTP method
    when the tool reports one, ``error`` the tool's error message or code for
    a failed request ("" when it gives none; runners.requests counts errors by it).
    """

    ts: float
    latency_ms: float
    status: int
    failed: bool = False
    name: str = ""
    method: str = ""
    error: str = ""

    @property
    def is_error(self) -> bool:
        """True if the tool marked it failed, or status >= 400, or status == 0."""
        return self.failed or self.status >= 400 or self.status == 0

    @property
    def end(self) -> float:
        """Epoch seconds at which the request ended (start + latency)."""
        return self.ts + self.latency_ms / 1000.0
