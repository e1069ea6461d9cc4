"""Two or three runs side by side, as the compare page shows them: figures, per-request rows and
series aligned on elapsed time.

Pure functions over rows already read (the runs, their request rows, their chart points), so
the page's cost is a query for the runs and one or two per run for its series, whatever the
runs hold. The first run is the reference: every change is relative to its figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfmon.core.ids import as_uuid
from perfmon.web.breakdown import request_rows
from perfmon.web.figures import FIGURES, change, known

MIN_RUNS, MAX_RUNS = 2, 3
# Each request name's figures compared: the request row's key, label, unit, better.
REQUEST_FIGURES = (("count", "Requests", "n", ""), ("errors", "Errors", "n", "lower"), ("p95", "p95", "ms", "lower"))


class BadIds(ValueError):
    """The ``ids`` asked for cannot name 2 or 3 runs; the message says why."""


def parse_ids(values: Sequence[str]) -> list[str]:
    """The run ids of ``?ids=a,b`` (also ``?ids=a&ids=b``, as the run list's checkboxes send them).

    Raises BadIds when there are not MIN_RUNS to MAX_RUNS of them, one is
    given twice, or one is not a run id at all.
    """
    ids = [part.strip() for value in values for part in str(value).split(",") if part.strip()]
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise BadIds(f"Pick {MIN_RUNS} or {MAX_RUNS} runs to compare; {len(ids)} given.")
    malformed = [run_id for run_id in ids if as_uuid(run_id) is None]
    if malformed:
        raise BadIds(f"“{malformed[0][:64]}” is not a run id.")
    if len({as_uuid(run_id) for run_id in ids}) != len(ids):
        raise BadIds("Each run may be given once.")
    return ids


def _cells(values: list, better: str) -> list[dict]:
    reference = values[0]
    return [{"value": value, "change": None if i == 0 else change(value, reference, better)}
            for i, value in enumerate(values)]


def summary_rows(runs: Sequence) -> list[dict]:
    """One row per compared figure: ``{key, label, unit, cells: [{value, change}]}``, a cell per run."""
    rows = []
    for key, label, unit, better in FIGURES:
        values = [(run.metrics or {}).get(key) for run in runs]
        values = [value if known(value) else None for value in values]
        rows.append({"key": key, "label": label, "unit": unit, "cells": _cells(values, better)})
    return rows


def request_table(runs: Sequence) -> list[dict]:
    """Per request name (and method): count, errors and p95 in each run, with the change from the first.

    ``[{name, method, figures: [{key, label, unit, cells}]}]``. A name a run
    did not request has None there. Names come busiest first in the first
    run, then those only later runs have, in their order.
    """
    tables = [{(row["name"], row["method"]): row for row in request_rows(run.requests)} for run in runs]
    names: dict[tuple[str, str], None] = {}
    for table in tables:
        names.update(dict.fromkeys(table))
    rows = []
    for name, method in names:
        found = [table.get((name, method)) for table in tables]
        figures = [{"key": key, "label": label, "unit": unit,
                    "cells": _cells([row[key] if row else None for row in found], better)}
                   for key, label, unit, better in REQUEST_FIGURES]
        rows.append({"name": name, "method": method, "figures": figures})
    return rows


def elapsed_points(points: list[dict], started_at: float | None) -> list[dict]:
    """A run's chart points (queries.series_points) with ``t`` as seconds since the run's start.

    The start is the run's own when known, else its first interval's start
    (the first point's end less its length is not stored, so its end less
    the gap to the second point stands in; one point counts from 0).
    """
    if not points:
        return []
    origin = started_at
    if origin is None:
        gap = points[1]["t"] - points[0]["t"] if len(points) > 1 else 0.0
        origin = points[0]["t"] - gap
    return [{**point, "t": round(point["t"] - origin, 3)} for point in points]


def overlay(series_by_run: Sequence[list[dict]], key: str) -> dict:
    """Several runs' elapsed points as one chart's data: ``{"x": [s], "values": [[run 1's], ...]}``.

    The x axis is every elapsed time any run has, in order; a run has None
    where it has no point (the chart spans the gaps), so lines of runs
    with different intervals or lengths overlay on one scale.
    """
    xs = sorted({point["t"] for points in series_by_run for point in points})
    values = []
    for points in series_by_run:
        at = {point["t"]: point.get(key) for point in points}
        values.append([at.get(x) for x in xs])
    return {"x": xs, "values": values}
