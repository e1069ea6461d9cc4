"""The per-key rate limit of /api, counted in the shared Django cache (Redis in production).

A fixed window per key: the first request of a window creates its counter
(``cache.add``), every request increments it atomically (``cache.incr`` is
INCR on Redis), so all web processes share one count without a lock. Past
the limit the answer is 429 with ``Retry-After``: the seconds until the
window ends.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
            "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+?)s?\s*$")
OFF = frozenset({"", "0", "off", "none"})


@lru_cache(maxsize=8)
def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"600/minute"`` -> (600, 60); None when the limit is off. Raises ImproperlyConfigured."""
    text = (rate or "").strip().lower()
    if text in OFF:
        return None
    match = _RATE.match(text)
    if not match or match[2] not in _PERIODS or int(match[1]) < 1:
        raise ImproperlyConfigured(f"PERFMON_API_RATE_LIMIT must look like '600/minute' or 'off', got {rate!r}")
    return int(match[1]), _PERIODS[match[2]]


class ApiKeyRateThrottle(BaseThrottle):
    """PERFMON_API_RATE_LIMIT requests per API key (or per operator) and period."""

    def __init__(self) -> None:
        self._wait: float | None = None

    @staticmethod
    def identity(request) -> str | None:
        principal = request.user
        if getattr(principal, "api_key", None) is not None:
            return f"key:{principal.api_key.pk}"
        if getattr(principal, "user", None) is not None:
            return f"user:{principal.user.pk}"
        return None

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(settings.PERFMON_API_RATE_LIMIT)
        ident = self.identity(request)
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"perfmon:api-rate:{ident}:{period}:{window}"
        # Kept a little past the window so a slow clock never sees it vanish early.
        cache.add(key, 0, timeout=period + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr: start the window again
            cache.set(key, 1, timeout=period + 5)
            count = 1
        if count <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        # DRF writes this into Retry-After (whole seconds, at least 1).
        return max(1.0, float(int(self._wait) + 1)) if self._wait is not None else None
