"""Gatling's binary simulation.log (3.15), decoded incrementally into RequestRecords.

Gatling 3.15 has no per-request output but its ``simulation.log`` (its
Graphite writer, which fed interval stats, was removed in 3.11), so
SimulationLogReader decodes that file: a binary log of every request with its start and
end (epoch milliseconds), OK/KO and KO message, the data Gatling's own
reports are built from. Layout (Gatling 3.15, ``LogFileDataWriter``; numbers
big-endian): a run record (byte 0; version, simulation class, start as a
long, description, scenario names, assertions) then records: request (1:
group names, name, start and end as ints relative to the run start, OK
byte, message), user (2), group (3), error (4). Strings are an int length,
the bytes of Java's internal representation and a coder byte (0 Latin-1, 1
UTF-16 in the JVM's byte order, little-endian on x86-64 and arm64; an empty
string is just the length 0). Names and messages are "cached strings": a
positive int introduces string number N (numbered 1, 2, ... in order), a
negative int -N repeats it. The format is Gatling's internal one, not a
public API: the reader accepts the version tested (3.15) and later 3.x,
and any inconsistency (unknown record type, string numbers out of order, a
boolean that is not 0/1) is a ParseError, never a silent misreading.

Records: ``ts`` = request start, ``latency_ms`` = end - start (whole ms, as
Gatling measures), ``failed`` = KO. The log has no HTTP status: an OK request
is given status 200 (Gatling's default check accepts 2xx and 304), a KO one
the status its message names (``status.find.in([200, 209], 304), found
500`` gives 500) or 0 (no response, or a failed check of the user's). Name:
the request name, prefixed by its groups (``group / name``). ``error`` (a
KO request's cause) is its KO message as Gatling's reports show it (a
failed check such as ``status.find.in([200, 209], 304), found 500``, or the
exception the request failed with). The log has no
HTTP method (``method`` is ""), and a check's passes are not logged, only
its failures as KO messages, so Gatling reports no checks.

While running: Gatling buffers the log in 8 KiB and writes it only when the
buffer is full (about 370 requests) and at the end. Series therefore appear
in bursts, and intervals are closed by the data read only (``now`` is not
used: the clock would close intervals whose requests are still in Gatling's
buffer).
"""

from __future__ import annotations

import re
import struct
from dataclasses import replace
from pathlib import Path

from runners.adapters.base import OutputReader
from runners.errors import ParseError
from runners.records import RequestRecord
from runners.result import Result, SeriesPoint

LOG_FILENAME = "simulation.log"
#: the first Gatling version whose simulation.log layout this reader was checked against
MIN_VERSION = (3, 15)
_STATUS_IN_MESSAGE = re.compile(r"\bfound (\d{3})\b")

_RUN, _REQUEST, _USER, _GROUP, _ERROR = 0, 1, 2, 3, 4
#: sanity limits: beyond them the bytes are not a simulation.log
_MAX_STRING = 1 << 20
_MAX_ITEMS = 1 << 16


class _Incomplete(Exception):
    """The buffer ends inside a record: wait for more bytes."""


class _Cursor:
    """Reads big-endian values from ``data`` starting at ``pos``; raises _Incomplete at the end."""

    __slots__ = ("data", "pos", "new_strings", "cache_size")

    def __init__(self, data: bytes | bytearray, pos: int, cache_size: int):
        self.data = data
        self.pos = pos
        self.cache_size = cache_size
        self.new_strings: list[str] = []

    def _take(self, n: int) -> int:
        start = self.pos
        if start + n > len(self.data):
            raise _Incomplete
        self.pos = start + n
        return start

    def byte(self) -> int:
        return self.data[self._take(1)]

    def boolean(self) -> bool:
        value = self.byte()
        if value > 1:
            raise ParseError(f"expected a boolean byte (0 or 1), got {value}")
        return value == 1

    def int32(self) -> int:
        return struct.unpack_from(">i", self.data, self._take(4))[0]

    def int64(self) -> int:
        return struct.unpack_from(">q", self.data, self._take(8))[0]

    def count(self) -> int:
        value = self.int32()
        if not 0 <= value <= _MAX_ITEMS:
            raise ParseError(f"implausible item count {value}")
        return value

    def bytes_(self) -> bytes:
        size = self.int32()
        if not 0 <= size <= _MAX_STRING:
            raise ParseError(f"implausible length {size}")
        start = self._take(size)
        return bytes(self.data[start:start + size])

    def string(self) -> str:
        size = self.int32()
        if size == 0:
            return ""
        if not 0 < size <= _MAX_STRING:
            raise ParseError(f"implausible string length {size}")
        start = self._take(size)
        raw = bytes(self.data[start:start + size])
        coder = self.byte()
        if coder == 0:
            return raw.decode("latin-1")
        if coder == 1 and size % 2 == 0:
            return raw.decode("utf-16-le", "replace")
        raise ParseError(f"bad string coder byte {coder} (length {size})")

    def cached(self, cache: list[str]) -> str:
        index = self.int32()
        if index < 0:
            known = self.cache_size + len(self.new_strings)
            if -index > known:
                raise ParseError(f"reference to string #{-index}, only {known} defined")
            return (cache[-index - 1] if -index <= self.cache_size
                    else self.new_strings[-index - 1 - self.cache_size])
        expected = self.cache_size + len(self.new_strings) + 1
        if index != expected:
            raise ParseError(f"new string #{index} where #{expected} was due")
        value = self.string()
        self.new_strings.append(value)
        return value


def _version_tuple(version: str) -> tuple[int, int] | None:
    match = re.match(r"^(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def status_of(ok: bool, message: str) -> int:
    """The status a Gatling request is recorded with (see the module docstring)."""
    if ok:
        return 200
    match = _STATUS_IN_MESSAGE.search(message)
    return int(match.group(1)) if match else 0


class SimulationLogReader(OutputReader):
    """Reads Gatling's binary simulation.log incrementally (see the module docstring).

    ``path`` is either the log itself or a results folder holding
    ``<run id>/simulation.log`` (Gatling names the run folder itself).
    """

    def __init__(self, path: Path, **kwargs):
        super().__init__(path, **kwargs)
        self._log: Path | None = None
        self._buf = bytearray()
        self._strings: list[str] = []
        self._run_start_ms: int | None = None
        self._records = 0
        self.gatling_version: str | None = None
        self.simulation: str | None = None

    def parse_line(self, line: str) -> None:  # pragma: no cover - binary format, see _parse
        raise NotImplementedError("simulation.log is binary; SimulationLogReader reads records")

    # -- locating and reading the file ---------------------------------------------
    def _locate(self) -> Path | None:
        if self._log is None:
            if self.path.is_dir():
                found = sorted(self.path.glob(f"*/{LOG_FILENAME}"),
                               key=lambda p: p.stat().st_mtime)
                if found:
                    self._log = found[-1]
            elif self.path.exists():
                self._log = self.path
        return self._log

    def _read(self, limit: int | None) -> None:
        log = self._locate()
        if log is None:
            return
        try:
            with open(log, "rb") as f:
                f.seek(self._offset)
                data = f.read(-1 if limit is None else limit)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ParseError(f"cannot read output: {exc.strerror}", log) from exc
        if data:
            self._offset += len(data)
            self._buf += data
            self._parse()

    # -- decoding -----------------------------------------------------------------
    def _parse(self) -> None:
        pos = 0
        buf = self._buf
        try:
            while pos < len(buf):
                cursor = _Cursor(buf, pos, len(self._strings))
                try:
                    self._record(cursor)
                except _Incomplete:
                    break
                self._strings.extend(cursor.new_strings)
                self._records += 1
                pos = cursor.pos
        except ParseError as exc:
            where = f"record {self._records + 1} at byte {self._offset - len(buf) + pos}"
            raise ParseError(f"{where}: {exc.reason}", self._log) from exc
        except (ValueError, IndexError, struct.error) as exc:  # a decoder slip: still clear
            raise ParseError(f"unreadable record {self._records + 1} ({exc})", self._log) from exc
        del buf[:pos]
        # memory stays flat: the builder aggregates, closed intervals leave it
        self._unreported.extend(self.builder.take_completed_series())

    def _record(self, cur: _Cursor) -> None:
        kind = cur.byte()
        if self._run_start_ms is None:
            if kind != _RUN:
                raise ParseError("not a Gatling 3.15+ simulation.log (no binary run record "
                                 "first; older Gatling versions wrote a text log)")
            self._run_header(cur)
        elif kind == _REQUEST:
            groups = [cur.cached(self._strings) for _ in range(cur.count())]
            name = cur.cached(self._strings)
            start, end = cur.int32(), cur.int32()
            ok = cur.boolean()
            message = cur.cached(self._strings)
            if end < start:
                raise ParseError(f"request {name!r} ends ({end}) before it starts ({start})")
            self.builder.add(RequestRecord(
                ts=(self._run_start_ms + start) / 1000.0, latency_ms=float(end - start),
                status=status_of(ok, message), failed=not ok,
                name=" / ".join([*groups, name]) if groups else name, error="" if ok else message))
        elif kind == _USER:
            cur.int32()
            cur.boolean()
            cur.int32()
        elif kind == _GROUP:
            for _ in range(cur.count()):
                cur.cached(self._strings)
            cur.int32()
            cur.int32()
            cur.int32()
            cur.boolean()
        elif kind == _ERROR:
            cur.cached(self._strings)
            cur.int32()
        else:
            raise ParseError(f"unknown record type {kind}")

    def _run_header(self, cur: _Cursor) -> None:
        version = cur.string()
        simulation = cur.string()
        start_ms = cur.int64()
        cur.string()  # run description
        for _ in range(cur.count()):  # scenario names
            cur.string()
        for _ in range(cur.count()):  # assertions (boopickle payloads)
            cur.bytes_()
        parsed = _version_tuple(version)
        if parsed is None or parsed < MIN_VERSION or parsed[0] != MIN_VERSION[0]:
            raise ParseError(f"simulation.log of Gatling {version!r}: perfmon reads the "
                             f"format of Gatling {MIN_VERSION[0]}.{MIN_VERSION[1]}+ "
                             "(scripts/install-gatling.sh)")
        if not 0 < start_ms < 1 << 48:
            raise ParseError(f"implausible run start {start_ms}")
        self.gatling_version, self.simulation, self._run_start_ms = version, simulation, start_ms

    # -- the reader interface ---------------------------------------------------------
    def poll(self, now: float | None = None) -> list[SeriesPoint]:
        """Decode newly written records; return the series intervals closed by them.

        ``now`` is ignored on purpose: Gatling writes its log in 8 KiB bursts,
        so only the data may close an interval. Raises ParseError on bad bytes.
        """
        self._read(self.max_poll_bytes)
        self._unreported.extend(self.builder.take_completed_series())
        points, self._unreported = self._unreported, []
        return points

    def finish(self, apdex_t_ms: float | None = None) -> Result:
        """Decode the rest of the log and return the final Result.

        A log ending inside a record (Gatling killed) gives ``partial=True``;
        a missing log gives count 0. Raises ParseError on bad bytes.
        """
        self._read(None)
        partial = bool(self._buf)
        self._buf.clear()
        result = self.builder.result(apdex_t_ms)
        return replace(result, partial=True) if partial else result
