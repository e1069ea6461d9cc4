"""The rules for a run's thresholds and parameters, in the package that uses them.

Thresholds are judged by runners/thresholds.py and parameters become the
tool's environment in runners/adapters/base.py, so what they may hold is
decided here, once. The control plane's services call these functions on
every write (so nothing stored can fail a run later); the APIs and the
dashboard only translate :class:`~runners.errors.InvalidSettings` into their
own field names; the agent calls them again before starting a tool.

Both functions return the cleaned value and accept it again unchanged, so
calling them twice on the way in is harmless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from runners.errors import InvalidSettings
from runners.thresholds import LATENCY_PERCENTILES

# --- thresholds -----------------------------------------------------------

# key -> (lowest allowed, highest allowed); latencyPercentile is one of LATENCY_PERCENTILES instead.
THRESHOLD_RANGES: dict[str, tuple[float, float]] = {
    "latencyMs": (0.0, 3_600_000.0),
    "errorRatePercent": (0.0, 100.0),
    "apdexMin": (0.0, 1.0),
    "latencyPercentile": (50.0, 99.0),
}
THRESHOLD_KEYS = tuple(THRESHOLD_RANGES)


def as_number(value) -> float:
    """A finite float from a number or a numeric string (forms send strings). Raises ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, str):
        value = value.strip()
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def json_number(key: str, number: float) -> int | float:
    """How a threshold is stored: latencyMs 2000.0 as 2000; the rates stay floats (5.0)."""
    if key in ("latencyMs", "latencyPercentile") and number.is_integer():
        return int(number)
    return number


def _threshold_problem(key: str, number: float) -> str | None:
    if key == "latencyPercentile":
        if number not in LATENCY_PERCENTILES:
            return f"Must be one of {', '.join(map(str, LATENCY_PERCENTILES))}."
        return None
    low, high = THRESHOLD_RANGES[key]
    # A latency limit of 0 would fail every run, so latencyMs must be above 0; the others may be 0.
    if not low <= number <= high or (key == "latencyMs" and number <= 0):
        return f"Must be {'above' if key == 'latencyMs' else 'at least'} {low:g} and at most {high:g}."
    return None


def clean_thresholds(data) -> dict[str, int | float]:
    """Thresholds with known keys and numbers in range; keys set to None are dropped (unset).

    ``None`` is no thresholds. Raises InvalidSettings("thresholds") naming
    every bad key, or the whole object when it is not a mapping.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidSettings("thresholds", problem="Thresholds are an object such as {\"latencyMs\": 2000}.")
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, int | float] = {}
    for key, raw in data.items():
        if key not in THRESHOLD_RANGES:
            errors[str(key)] = [f"Unknown threshold; use {', '.join(THRESHOLD_KEYS)}."]
            continue
        if raw is None:
            continue
        try:
            number = as_number(raw)
        except (TypeError, ValueError):
            errors[key] = ["A valid number is required."]
            continue
        problem = _threshold_problem(key, number)
        if problem:
            errors[key] = [problem]
            continue
        cleaned[key] = json_number(key, number)
    if errors:
        raise InvalidSettings("thresholds", errors=errors)
    return cleaned


# --- parameters -----------------------------------------------------------

# Parameters reach the tool as environment variables, so their names must be valid ones.
# fullmatch, not match with "$", which would let a name end in a newline.
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_PARAMETER_VALUE = 8192
MAX_PARAMETERS = 200


def _parameter_value(value) -> str:
    """The string a scalar value is passed as; raises ValueError with the message to show."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value)):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("A value is a string (or a number or boolean).")
    if len(value) > MAX_PARAMETER_VALUE:
        raise ValueError(f"A value may be at most {MAX_PARAMETER_VALUE} characters.")
    if "\x00" in value:
        # execve cannot pass a NUL inside an environment variable.
        raise ValueError("Null characters are not allowed.")
    return value


def clean_parameters(data) -> dict[str, str]:
    """Parameters named like environment variables, with scalar values as strings.

    ``None`` is no parameters. Raises InvalidSettings("parameters") naming
    every bad name, or the whole object when it is not a mapping or too long.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidSettings("parameters", problem="Parameters are an object of names to values.")
    if len(data) > MAX_PARAMETERS:
        raise InvalidSettings("parameters", problem=f"At most {MAX_PARAMETERS} parameters.")
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not PARAMETER_NAME.fullmatch(key):
            errors[str(key)] = ["A name is letters, digits and underscores, not starting with a digit."]
            continue
        try:
            cleaned[key] = _parameter_value(value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if errors:
        raise InvalidSettings("parameters", errors=errors)
    return cleaned
