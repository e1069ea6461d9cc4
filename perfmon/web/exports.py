"""A run's figures as CSV downloads: its interval series (streamed in batches) and its per-request table.

Numbers are written as stored: integers as they are, floats in Python's
shortest round-trip form (40.0, 17.4), an unknown figure as an empty cell;
times are ISO 8601 in UTC. The files are for spreadsheets and scripts, so
the columns carry their units in their names.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC

from perfmon.runs import series
from perfmon.web.breakdown import request_rows

SERIES_BATCH = 2000  # series points read per query while streaming
SERIES_COLUMNS = ("start", "interval_s", "count", "errors", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
                  "throughput_rps", "vus")
REQUEST_COLUMNS = ("name", "method", "count", "errors", "error_pct", "status_codes", "p50_ms", "p90_ms",
                   "p95_ms", "p99_ms", "avg_ms", "min_ms", "max_ms", "throughput_rps")


class _Line:
    """A file-like object whose write returns the text: csv.writer then hands each row back."""

    def write(self, text: str) -> str:
        return text


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP):
# text from a script (a request name, a message) is prefixed with ' so it opens as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header, then each row, as CSV lines (RFC 4180 quoting, CRLF line ends)."""
    writer = csv.writer(_Line())
    yield writer.writerow(list(header))
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def _intervals(tenant, run) -> Iterator:
    if run.is_split and not run.is_final:
        # A running split run's series is merged from its parts on every read: read it once.
        yield from series.points(tenant, run)
        return
    after = -1
    while True:
        batch = series.points(tenant, run, after_seq=after, limit=SERIES_BATCH)
        yield from batch
        if len(batch) < SERIES_BATCH:
            return
        after = batch[-1].seq


def series_csv(tenant, run) -> Iterator[str]:
    """The run's whole interval series as stored (1 s points; a split run's parts merged), oldest first."""
    rows = (
        (point.start.astimezone(UTC).isoformat(), point.interval_s, point.count, point.errors, point.p50_ms,
         point.p90_ms, point.p95_ms, point.p99_ms, point.throughput_rps, point.vus)
        for point in _intervals(tenant, run)
    )
    return csv_lines(SERIES_COLUMNS, rows)


def requests_csv(run) -> Iterator[str]:
    """The run's per-request table, busiest first, as the run page lists it (bounded: the names are capped)."""
    rows = (
        (row["name"], row["method"], row["count"], row["errors"], row["error_pct"],
         ";".join(f"{code}:{n}" for code, n in row["status_codes"]), row["p50"], row["p90"], row["p95"],
         row["p99"], row["avg"], row["min"], row["max"], row["rps"])
        for row in request_rows(run.requests)
    )
    return csv_lines(REQUEST_COLUMNS, rows)
