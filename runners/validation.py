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
from fractions import Fraction

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
    cleaned: dict = {}
    for key, raw in data.items():
        if key == "requests":
            requests = _clean_request_thresholds(raw, errors)
            if requests:
                cleaned["requests"] = requests
            continue
        if key not in THRESHOLD_RANGES:
            errors[str(key)] = [f"Unknown threshold; use {', '.join(THRESHOLD_KEYS)} or requests."]
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


#: what a threshold of one request name may set (its own figures have no Apdex)
REQUEST_THRESHOLD_KEYS = ("latencyMs", "errorRatePercent", "latencyPercentile")
MAX_REQUEST_THRESHOLDS = 100
MAX_REQUEST_NAME = 500


def _clean_request_thresholds(data, errors: dict[str, list[str]]) -> dict:
    """``{name: {latencyMs, errorRatePercent, latencyPercentile}}``; problems go to ``errors`` as requests.<name>.<key>."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        errors["requests"] = ['Thresholds per request name, such as {"login": {"latencyMs": 300}}.']
        return {}
    if len(data) > MAX_REQUEST_THRESHOLDS:
        errors["requests"] = [f"At most {MAX_REQUEST_THRESHOLDS} request names."]
        return {}
    cleaned: dict[str, dict] = {}
    for name, own in data.items():
        where = f"requests.{name}"
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_REQUEST_NAME:
            errors[where] = [f"A request name is 1 to {MAX_REQUEST_NAME} characters."]
            continue
        if not isinstance(own, Mapping):
            errors[where] = ['An object such as {"latencyMs": 300, "errorRatePercent": 1}.']
            continue
        figures: dict[str, int | float] = {}
        for key, raw in own.items():
            if key not in REQUEST_THRESHOLD_KEYS:
                errors[f"{where}.{key}"] = [f"Unknown threshold; use {', '.join(REQUEST_THRESHOLD_KEYS)}."]
                continue
            if raw is None:
                continue
            try:
                number = as_number(raw)
            except (TypeError, ValueError):
                errors[f"{where}.{key}"] = ["A valid number is required."]
                continue
            problem = _threshold_problem(key, number)
            if problem:
                errors[f"{where}.{key}"] = [problem]
                continue
            figures[key] = json_number(key, number)
        if figures:
            cleaned[name] = figures
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


# --- distribution -----------------------------------------------------------

# The most parts one run may be split into unless the control plane sets its own maximum.
MAX_SPLIT_PARTS = 20


def clean_distribution(data, *, max_parts: int = MAX_SPLIT_PARTS) -> dict | None:
    """A run's split over agents: ``None`` (one agent), ``{"agents": N}`` or
    ``{"locations": {"eu-west-1": 60, ...}, "agentsPerLocation": k}``.

    Location percentages are whole or decimal numbers above 0 that sum to
    exactly 100; the split has at most ``max_parts`` parts in all. Forms send
    numbers as strings, which are accepted. Raises InvalidSettings("distribution")
    naming every bad key. Returns the cleaned value (``agentsPerLocation`` only when above 1).
    """
    if data is None or data == {}:
        return None
    if isinstance(data, Mapping) and "agents_per_location" in data and "agentsPerLocation" not in data:
        data = {("agentsPerLocation" if key == "agents_per_location" else key): value for key, value in data.items()}
    if not isinstance(data, Mapping):
        raise InvalidSettings("distribution", problem='A distribution is {"agents": 2} or {"locations": {"eu-west-1": 60, '
                                                      '"us-east-1": 40}}, or null for one agent.')
    keys = set(data)
    unknown = sorted(str(key) for key in keys - {"agents", "locations", "agentsPerLocation"})
    if unknown:
        raise InvalidSettings("distribution", problem=f"Unknown key {', '.join(map(repr, unknown))}: a distribution "
                                                      'has "agents", or "locations" and "agentsPerLocation".')
    if ("agents" in keys) == ("locations" in keys):
        raise InvalidSettings("distribution", problem='Give exactly one of "agents" (a number of agents) or '
                                                      '"locations" (percentages per location).')
    errors: dict[str, list[str]] = {}

    def whole(key: str, raw) -> int | None:
        try:
            number = as_number(raw)
        except (TypeError, ValueError):
            errors[key] = ["A whole number is required."]
            return None
        if not number.is_integer() or number < 1:
            errors[key] = ["Must be a whole number of at least 1."]
            return None
        return int(number)

    if "agents" in keys:
        if "agentsPerLocation" in keys:
            errors["agentsPerLocation"] = ['Only with "locations".']
        agents = whole("agents", data["agents"])
        if agents is not None and agents > max_parts:
            errors["agents"] = [f"At most {max_parts} agents."]
        if errors:
            raise InvalidSettings("distribution", errors=errors)
        return {"agents": agents}

    per_location = whole("agentsPerLocation", data.get("agentsPerLocation", 1))
    locations = data["locations"]
    if not isinstance(locations, Mapping) or not locations:
        raise InvalidSettings("distribution", errors={
            "locations": ['An object of locations to percentages, such as {"eu-west-1": 60, "us-east-1": 40}.']})
    cleaned: dict[str, int | float] = {}
    for name, raw in locations.items():
        key = f"locations.{name}"
        if not isinstance(name, str) or not name.strip():
            errors[key] = ["A location is a non-empty name."]
            continue
        try:
            number = as_number(raw)
        except (TypeError, ValueError):
            errors[key] = ["A percentage is a number."]
            continue
        if not 0 < number <= 100:
            errors[key] = ["A percentage is above 0 and at most 100."]
            continue
        cleaned[name] = int(number) if number.is_integer() else number
    if not errors and abs(sum(cleaned.values()) - 100) > 1e-9:
        errors["locations"] = [f"The percentages must sum to 100, not {sum(cleaned.values()):g}."]
    if per_location is not None and not errors and len(cleaned) * per_location > max_parts:
        errors["agentsPerLocation"] = [f"At most {max_parts} agents in all, not {len(cleaned) * per_location}."]
    if errors:
        raise InvalidSettings("distribution", errors=errors)
    result: dict = {"locations": cleaned}
    if per_location > 1:
        result["agentsPerLocation"] = per_location
    return result


def distribution_slots(distribution: Mapping) -> list[tuple[str, Fraction]]:
    """The parts of a cleaned distribution as (location or "", exact share), in a stable order.

    ``{"agents": 2}`` -> ``[("", 1/2), ("", 1/2)]``; ``{"locations": {"eu": 60, "us": 40}}`` ->
    ``[("eu", 3/5), ("us", 2/5)]``; each location's share is divided among its agents.
    """
    if "agents" in distribution:
        count = int(distribution["agents"])
        return [("", Fraction(1, count))] * count
    per_location = int(distribution.get("agentsPerLocation", 1))
    slots = []
    for name, percent in distribution["locations"].items():
        share = Fraction(str(percent)) / 100 / per_location
        slots += [(name, share)] * per_location
    return slots
