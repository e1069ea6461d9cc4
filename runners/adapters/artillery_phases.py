"""Artillery's ``config.phases`` for one part of a split run: read from the script, divided exactly.

A part runs the script as written with its own phases in ``--overrides``
(Artillery 2 replaces ``config.phases`` with the override's list). Each
part's phases come from the script's by these rules, which make the parts'
arrivals add up to the unsplit run's (``Split.whole``):

- ``arrivalRate`` (no ``rampTo``): the part's whole piece of the rate, for
  the same duration. The rate must be a whole number: Artillery 2.0 cannot
  run a fractional arrivalRate (its division over local workers fails).
- ``arrivalCount``: the part's whole piece of the count, over the same duration.
- ``rampTo`` (from ``arrivalRate``, default 0): Artillery ramps in one-second
  steps of ``round(arrivalRate + (rampTo - arrivalRate) * i / (duration - 1))``
  arrivals (lib/core/phases.ts createRamp; the sum over its local workers);
  the part runs its whole piece of every step as one-second ``arrivalRate``
  phases, equal neighbours merged. The duration must be whole seconds.
- ``pause``: kept. ``maxVusers``: the part's whole piece.
- A piece of 0 arrivals becomes a ``pause`` of the same duration, so every
  part keeps the same timeline.

The script's phases are read by artillery_script.read_phases (the forms it
reads, and why it refuses the others).

Refused (InvalidSpec, with the reason): phases it cannot read, a value that
is not a decimal number (``{{ $env.NAME }}`` / ``{{ $processEnvironment.NAME }}``
templates are resolved from the run's parameters), a phase of no known kind
or of two kinds, a part with arrivals but a maxVusers piece of 0 (Artillery
would skip every arrival), and a split that leaves some part no arrival.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from runners.adapters.artillery_script import read_phases
from runners.errors import InvalidSpec
from runners.split import Split

__all__ = ["check", "overrides", "part_phases", "read_phases"]

#: phase keys perfmon divides or keeps; any other key is refused on a split run
NUMERIC_KEYS = ("duration", "pause", "arrivalRate", "arrivalCount", "rampTo", "maxVusers")
PASSED_KEYS = ("name", "mode")
#: Linux refuses a single argument longer than 128 KiB; the overrides must fit
MAX_OVERRIDES_BYTES = 100_000
#: a uniform arrival process of r/s for k s emits exactly k*r arrivals while k*r*r < 10^6
#: (its timer ticks in whole microseconds); merged ramp steps stay within that
_EXACT_TIMER = 1_000_000

_TEMPLATE = re.compile(r"^\{\{\s*\$(?:env|processEnvironment)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_DECIMAL = re.compile(r"^[-+]?[0-9]+(?:\.[0-9]+)?$")
_DURATION = re.compile(r"^([0-9]+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?)?$", re.I)

def _resolve(phase_no: int, key: str, value: Any, parameters: Mapping[str, str]) -> Any:
    """``value`` with a ``{{ $env.NAME }}`` template replaced by parameter NAME."""
    template = _TEMPLATE.match(value.strip()) if isinstance(value, str) else None
    if not template:
        return value
    if template.group(1) not in parameters:
        raise InvalidSpec(f"phase {phase_no} {key} is {value.strip()!r} but {template.group(1)} is not "
                          "a parameter of the run: a split run must know every phase value")
    return str(parameters[template.group(1)]).strip()


def _as_written(value: Any) -> Any:
    """A duration or pause for --overrides: whole-number text as a number (as js-yaml gives it),
    other text as written (Artillery reads ``2m`` itself)."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _number(phase_no: int, key: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        return float(value)
    raise InvalidSpec(f"phase {phase_no} {key} must be a number, not {value!r}")


def _whole(phase_no: int, key: str, value: Any) -> int:
    number = _number(phase_no, key, value)
    if number < 0 or not float(number).is_integer():
        raise InvalidSpec(f"phase {phase_no} {key} must be a whole number >= 0 to be split, not {value!r}")
    return int(number)


def _seconds(phase_no: int, value: Any) -> int:
    """A ramp's duration in whole seconds: a number, or text such as ``90``, ``30s``, ``2m``, ``1h``."""
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if match:
        seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[(match.group(2) or "s")[0].lower()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        seconds = int(value)
    else:
        seconds = 0
    if seconds < 1:
        raise InvalidSpec(f"phase {phase_no} ramps over {value!r}: a split ramp needs a duration "
                          "of whole seconds")
    return seconds


def _ramp_steps(start: float, end: float, seconds: int) -> list[int]:
    """Artillery's arrivals in each second of a ramp (its rounding, half up)."""
    if seconds == 1:
        return [math.floor((end + start) / 2 + 0.5)]
    return [math.floor((end - start) / (seconds - 1) * i + start + 0.5) for i in range(seconds)]


def _step_phases(base: dict, steps: list[int]) -> list[dict]:
    """One-second arrivalRate phases (a pause for 0) for the part's ramp steps, equal neighbours merged."""
    phases: list[dict] = []
    for arrivals in steps:
        last = phases[-1] if phases else {}
        if not arrivals and "pause" in last:
            last["pause"] += 1
        elif arrivals and last.get("arrivalRate") == arrivals and \
                (last["duration"] + 1) * arrivals * arrivals < _EXACT_TIMER:
            last["duration"] += 1
        elif arrivals:
            phases.append({**base, "duration": 1, "arrivalRate": arrivals})
        else:
            phases.append({k: v for k, v in base.items() if k != "maxVusers"} | {"pause": 1})
    return phases


def _kind(phase_no: int, phase: dict) -> str:
    kinds = [k for k in ("pause", "arrivalCount", "rampTo") if k in phase]
    if "arrivalRate" in phase and "rampTo" not in phase:
        kinds.append("arrivalRate")
    if len(kinds) != 1:
        what = " and ".join(kinds) or "none of pause, arrivalRate, arrivalCount and rampTo"
        raise InvalidSpec(f"phase {phase_no} sets {what}: a split run divides phases of one kind")
    return kinds[0]


def part_phases(phases: list[dict], split: Split, parameters: Mapping[str, str]) -> tuple[list[dict], int]:
    """The phases part ``split`` runs, and how many arrivals they have (per second of a rate, or counted).

    Raises InvalidSpec for what the module docstring says is refused.
    """
    out: list[dict] = []
    load = 0
    for phase_no, phase in enumerate(phases, start=1):
        unknown = sorted(set(phase) - set(NUMERIC_KEYS) - set(PASSED_KEYS))
        if unknown:
            raise InvalidSpec(f"phase {phase_no} has keys a split run does not know: {', '.join(unknown)}")
        kind = _kind(phase_no, phase)
        values = {k: _resolve(phase_no, k, v, parameters) for k, v in phase.items() if k in NUMERIC_KEYS}
        base = {k: phase[k] for k in PASSED_KEYS if k in phase}
        if kind == "pause":
            out.append({**base, "pause": _as_written(values["pause"])})
            continue
        if "duration" not in values:
            raise InvalidSpec(f"phase {phase_no} has no duration")
        max_vusers = None
        if "maxVusers" in values:
            max_vusers = split.whole(_whole(phase_no, "maxVusers", values["maxVusers"]))
            base["maxVusers"] = max_vusers
        if kind == "rampTo":
            seconds = _seconds(phase_no, values["duration"])
            steps = _ramp_steps(_number(phase_no, "arrivalRate", values.get("arrivalRate", 0)),
                                _number(phase_no, "rampTo", values["rampTo"]), seconds)
            base.pop("mode", None)  # Artillery ignores it in a ramp; its steps must too
            pieces = [split.whole(n) for n in steps]
            out.extend(_step_phases(base, pieces))
            piece = sum(pieces)
        else:
            piece = split.whole(_whole(phase_no, kind, values[kind]))
            if piece:
                out.append({**base, "duration": _as_written(values["duration"]), kind: piece})
            else:
                base.pop("maxVusers", None)
                out.append({**base, "pause": _as_written(values["duration"])})
        if piece and max_vusers == 0:
            raise InvalidSpec(f"phase {phase_no} maxVusers={values['maxVusers']} cannot be split over "
                              f"{split.count} parts: a part with arrivals would skip them all")
        load += piece
    return out, load


def check(phases: list[dict], split: Split, parameters: Mapping[str, str]) -> None:
    """Raise InvalidSpec when some part of ``split`` would be refused or get no arrival."""
    for index in range(split.count):
        _, arrivals = part_phases(phases, Split(index, split.shares), parameters)
        if arrivals == 0:
            raise InvalidSpec(f"the script's phases cannot be split over {split.count} parts: "
                              f"part {index + 1} would get no arrival in any phase")


def overrides(phases: list[dict]) -> str:
    """The ``--overrides`` JSON giving a part its phases; raises InvalidSpec when too long for argv."""
    text = json.dumps({"config": {"phases": phases}}, separators=(",", ":"))
    if len(text.encode()) > MAX_OVERRIDES_BYTES:
        raise InvalidSpec(f"the part's phases take {len(text.encode())} bytes as --overrides, more than "
                          f"{MAX_OVERRIDES_BYTES}: shorten the ramps (every second of a ramp can be a phase)")
    return text
