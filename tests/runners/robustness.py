"""Shared checks that a tool's output reader survives damage and reads the same however the
file grows. Used by the binary/CSV readers' tests (JMeter, Gatling)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from runners.errors import ParseError


def mangled_copies(data: bytes, count: int, seed: int = 7):
    """``count`` damaged copies of ``data``: cut short, bytes overwritten, or garbage inserted."""
    rng = random.Random(seed)
    for i in range(count):
        mangled = bytearray(data)
        at = rng.randrange(len(mangled))
        if i % 3 == 0:
            del mangled[at:]
        elif i % 3 == 1:
            for _ in range(rng.randint(1, 5)):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        else:
            mangled[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        yield bytes(mangled)


def assert_read_or_refused(adapter, data: bytes, tmp_path: Path, suffix: str, count: int = 150) -> None:
    """Every damaged copy is either read or refused with a ParseError naming the file; never a crash."""
    outcomes = Counter()
    for i, mangled in enumerate(mangled_copies(data, count)):
        path = tmp_path / f"{i}{suffix}"
        path.write_bytes(mangled)
        try:
            adapter.file_reader(path).finish()
            outcomes["read"] += 1
        except ParseError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"]


def read_in_random_pieces(adapter, data: bytes, tmp_path: Path, suffix: str):
    """(the Result read from the whole file, the Result and the series polled while it grew piecewise)."""
    whole = tmp_path / f"whole{suffix}"
    whole.write_bytes(data)
    expected = adapter.file_reader(whole, interval_s=1.0).finish()
    rng = random.Random(3)
    growing = tmp_path / f"growing{suffix}"
    reader = adapter.file_reader(growing, interval_s=1.0)
    polled = []
    with open(growing, "wb", buffering=0) as f:
        position = 0
        while position < len(data):
            step = rng.choice([1, 7, 50, 333])
            f.write(data[position:position + step])
            position += step
            polled += reader.poll()
    return expected, reader.finish(), polled
