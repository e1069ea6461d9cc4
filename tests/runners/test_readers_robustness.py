"""Readers fed mangled output raise ParseError or read it; they never crash with
another exception. And reading in arbitrary pieces equals reading at once."""

import random

import pytest

from runners import get_adapter
from runners.errors import ParseError
from runners.stream import header_line, request_line

T0 = 1_700_000_000.0


def k6_lines(n: int) -> str:
    rng = random.Random(n)
    out = ['{"type":"Metric","data":{"name":"http_req_duration","type":"trend"},'
           '"metric":"http_req_duration"}\n']
    for i in range(n):
        status = rng.choice(["200", "200", "500", "0"])
        out.append(
            '{"metric":"http_req_duration","type":"Point","data":{"time":'
            f'"2026-11-23T01:15:{10 + i // 20:02d}.{rng.randrange(10**9):09d}Z","value":'
            f'{rng.uniform(0.1, 90):.6f},"tags":{{"expected_response":"'
            f'{"true" if status == "200" else "false"}","name":"u","status":"{status}"}}}}}}\n')
        out.append('{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-23T01:15:10Z",'
                   '"value":1,"tags":{}}}\n')
    return "".join(out)


def stream_lines(n: int) -> str:
    rng = random.Random(n)
    return header_line() + "".join(
        request_line(T0 + i * 0.05, rng.uniform(0.1, 90), rng.choice([200, 500, 0]),
                     ok=rng.random() > 0.1, name="n") for i in range(n))


SOURCES = {"k6": k6_lines(60), "custom": stream_lines(120)}


def mangle(text: str, rng: random.Random) -> bytes:
    data = bytearray(text.encode())
    kind = rng.randrange(5)
    if kind == 0:                                   # cut anywhere
        del data[rng.randrange(len(data)):]
    elif kind == 1:                                 # flip a few bytes
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 2:                                 # a garbage line in the middle
        at = data.index(b"\n", rng.randrange(len(data) // 2)) + 1
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) + b"\n"
    elif kind == 3:                                 # a chunk of the file lost
        start = rng.randrange(len(data))
        del data[start:start + rng.randint(1, 300)]
    else:                                           # digits swapped for letters
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(data))
            if chr(data[at]).isdigit():
                data[at] = ord("x")
    return bytes(data)


@pytest.mark.parametrize("tool", sorted(SOURCES))
def test_mangled_output_is_read_or_refused_never_crashes(tmp_path, tool):
    adapter = get_adapter(tool)
    rng = random.Random(tool)
    outcomes = {"read": 0, "refused": 0}
    for i in range(150):
        path = tmp_path / f"{i}.out"
        path.write_bytes(mangle(SOURCES[tool], rng))
        try:
            result = adapter.file_reader(path).finish()
        except ParseError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
        else:
            assert result.count >= 0
            outcomes["read"] += 1
    assert outcomes["read"] and outcomes["refused"]     # the mangling hit both ways


@pytest.mark.parametrize("tool", sorted(SOURCES))
def test_reading_in_random_pieces_equals_reading_at_once(tmp_path, tool):
    adapter = get_adapter(tool)
    data = SOURCES[tool].encode()
    whole = tmp_path / "whole.out"
    whole.write_bytes(data)
    expected = adapter.file_reader(whole, interval_s=1.0).finish()

    rng = random.Random(42)
    growing = tmp_path / "growing.out"
    reader = adapter.file_reader(growing, interval_s=1.0)
    polled = []
    position = 0
    with open(growing, "wb", buffering=0) as f:
        while position < len(data):
            step = rng.choice([1, 7, 50, 333, 2000])
            f.write(data[position:position + step])
            position += step
            polled += reader.poll()
    result = reader.finish()
    assert result == expected
    assert result.series[:len(polled)] == tuple(polled)
