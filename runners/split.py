"""One part of a run split over several agents: its share of the load, exactly.

A split run has N parts whose shares (exact fractions) sum to 1. Each part
knows every share, so each tool divides the load the same way on every
agent and the parts add up to the whole:

- k6 reads the shares as one ``--execution-segment-sequence`` and its part
  as an ``--execution-segment``, so k6 itself stripes VUs and arrival
  rates (``exec.vu.idInTest`` stays unique across the parts);
- whole numbers (users, threads) are split by cumulative boundaries,
  ``floor(total × end) − floor(total × start)``, which add up to ``total``
  exactly across the parts (``whole``);
- rates are scaled by the share (``scaled``).

Every part also gets the split in its environment (``env``), which is all
a custom command or a script needs to divide its own load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from runners.errors import InvalidSpec

# The environment a part's tool (and its script) sees.
ENV_INDEX = "PERFMON_PART_INDEX"
ENV_COUNT = "PERFMON_PART_COUNT"
ENV_SHARE = "PERFMON_PART_SHARE"
ENV_SEGMENT = "PERFMON_EXECUTION_SEGMENT"
ENV_SEQUENCE = "PERFMON_EXECUTION_SEGMENT_SEQUENCE"


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True)
class Split:
    """Part ``index`` of a run whose parts have ``shares`` (positive fractions summing to 1)."""

    index: int
    shares: tuple[Fraction, ...]

    def __post_init__(self) -> None:
        shares = tuple(Fraction(s) for s in self.shares)
        object.__setattr__(self, "shares", shares)
        if not shares or any(s <= 0 for s in shares) or sum(shares) != 1:
            raise InvalidSpec(f"a split's shares must be positive and sum to 1, not {[str(s) for s in shares]}")
        if not 0 <= self.index < len(shares):
            raise InvalidSpec(f"part index {self.index} is outside a split of {len(shares)} parts")

    @property
    def count(self) -> int:
        return len(self.shares)

    @property
    def share(self) -> Fraction:
        return self.shares[self.index]

    @property
    def start(self) -> Fraction:
        return sum(self.shares[: self.index], Fraction(0))

    @property
    def end(self) -> Fraction:
        return self.start + self.share

    def segment(self) -> str:
        """k6's ``--execution-segment`` of this part (``1/3:2/3``)."""
        return f"{_fraction_text(self.start)}:{_fraction_text(self.end)}"

    def sequence(self) -> str:
        """k6's ``--execution-segment-sequence`` every part shares (``0,1/3,2/3,1``)."""
        points, total = [Fraction(0)], Fraction(0)
        for share in self.shares:
            total += share
            points.append(total)
        return ",".join(_fraction_text(p) for p in points)

    def whole(self, total: int) -> int:
        """This part's piece of ``total`` whole units; the pieces of all parts add up to ``total``."""
        return math.floor(total * self.end) - math.floor(total * self.start)

    def smallest_whole(self, total: int) -> int:
        """The smallest piece of ``total`` any part gets (0: some part would run nothing)."""
        return min(Split(i, self.shares).whole(total) for i in range(self.count))

    def scaled(self, value: float) -> float:
        """``value`` (a rate) times this part's share."""
        return float(value) * float(self.share)

    def env(self) -> dict[str, str]:
        """The split as environment variables for the tool and its script."""
        return {
            ENV_INDEX: str(self.index),
            ENV_COUNT: str(self.count),
            ENV_SHARE: repr(float(self.share)),
            ENV_SEGMENT: self.segment(),
            ENV_SEQUENCE: self.sequence(),
        }

    def to_dict(self) -> dict:
        return {"index": self.index, "shares": [_fraction_text(s) for s in self.shares]}

    @classmethod
    def from_dict(cls, data: Any) -> Split:
        """Read ``to_dict``'s output; raises InvalidSpec for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("shares"), list):
            raise InvalidSpec("a split is an object with 'index' and a list of 'shares'")
        index = data.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidSpec(f"a split's index must be a whole number, not {index!r}")
        try:
            shares = tuple(Fraction(str(s)) for s in data["shares"])
        except (ValueError, ZeroDivisionError):
            raise InvalidSpec(f"a split's shares must be fractions, not {data['shares']!r}") from None
        return cls(index, shares)

    @classmethod
    def equal(cls, index: int, count: int) -> Split:
        """Part ``index`` of ``count`` equal parts."""
        return cls(index, tuple(Fraction(1, count) for _ in range(count)))
