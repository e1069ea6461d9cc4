"""The adapter interface every tool module implements, and the shared output reader.

An adapter never starts a process: prepare() describes the command (argv,
the environment ADDITIONS the tool needs, working dir, output file, how to
stop it), the agent runs it, and reader() follows the output file while the
tool runs (poll) and at the end (finish).

Partial output: a tool killed mid-write leaves a truncated last line. The
reader parses complete lines only; at finish() an unterminated last line is
parsed if it is complete in itself (some tools omit the final newline) and
otherwise ignored, and the Result says ``partial=True``. Garbage anywhere
else is a ParseError naming the file and line.
"""

from __future__ import annotations

import os
import re
import signal as _signal
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from runners.builder import ResultBuilder
from runners.errors import InvalidSpec, ParseError
from runners.requests import DEFAULT_MAX_NAMES
from runners.result import Result, SeriesPoint
from runners.split import Split
from runners.validation import clean_parameters


@dataclass(frozen=True)
class RunSpec:
    """What to run: the script already written in ``work_dir`` and its parameters.

    ``duration_s`` is a hint/limit for tools that need one (Locust's run
    time); ``tool_path`` an explicit executable; ``interval_s`` the series
    interval; ``apdex_t_ms`` the T counted exactly by the reader.
    """

    work_dir: Path
    script_path: Path
    parameters: Mapping[str, str] = field(default_factory=dict)
    duration_s: float | None = None
    tool_path: str | None = None
    interval_s: float = 1.0
    apdex_t_ms: float = 500.0
    #: this run's part of a split run (runners/split.py); None: the run is not split
    split: Split | None = None
    #: the per-request breakdown's cap on request names (runners/requests.py); the rest count as "other"
    max_request_names: int = DEFAULT_MAX_NAMES
    #: networks (CIDRs) and host name patterns ("*.internal") the tool must not connect to, for the
    #: tools that can be told so (k6); the others ignore them (docs/agent-install.md, "Egress")
    egress_deny_ips: tuple[str, ...] = ()
    egress_deny_hostnames: tuple[str, ...] = ()


def split_env(spec: RunSpec) -> dict[str, str]:
    """The part's split as environment variables (PERFMON_PART_*), or none for a run that is not split."""
    return spec.split.env() if spec.split is not None else {}


def is_count_parameter(name: str, noun: str) -> bool:
    """Whether a split run divides parameter ``name`` as a count of ``noun``s: ``threads``/``*_threads``, any case."""
    lowered = name.lower()
    return lowered == f"{noun}s" or lowered.endswith(f"_{noun}s")


def split_counts(parameters: Mapping[str, str], split: Split, noun: str) -> dict[str, int]:
    """The part's piece (Split.whole) of every ``noun`` count parameter (is_count_parameter).

    Raises InvalidSpec naming the parameter when its value is not a whole
    number or some part of the split would get none of it.
    """
    pieces = {}
    for name, raw in parameters.items():
        if not is_count_parameter(name, noun):
            continue
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()):
            raise InvalidSpec(f"{name}={raw!r} cannot be split over {split.count} parts: "
                              f"a {noun} count must be a whole number")
        total = int(text)
        if split.smallest_whole(total) == 0:
            raise InvalidSpec(f"{name}={total} cannot be split over {split.count} parts: "
                              f"every part needs at least one {noun}")
        pieces[name] = split.whole(total)
    return pieces


def part_properties(split: Split) -> dict[str, str]:
    """The Java properties naming the part: ``perfmon.part.index``, ``.count`` and ``.share`` (a decimal)."""
    return {"perfmon.part.index": str(split.index), "perfmon.part.count": str(split.count),
            "perfmon.part.share": repr(float(split.share))}


@dataclass(frozen=True)
class StopPolicy:
    """How to stop the tool: send ``signal`` to its process group, wait
    ``grace_s``, then SIGKILL. ``note`` says what the tool flushes on stop."""

    signal: int = _signal.SIGINT
    grace_s: float = 10.0
    note: str = ""


@dataclass(frozen=True)
class Command:
    """A process for the agent to start.

    ``env`` holds ONLY additions (parameters and tool config); the agent
    merges them into its scrubbed base environment.
    """

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    output_path: Path
    stop: StopPolicy


@dataclass(frozen=True)
class ExitOutcome:
    """Whether an exit code means the run executed (``ok``) and why."""

    ok: bool
    reason: str


def parameter_env(parameters: Mapping[str, str]) -> dict[str, str]:
    """Return the parameters as environment variables, by the rules of runners/validation.py.

    Raises InvalidSettings (an InvalidSpec) for a name that is not a valid
    variable name or a value the environment cannot hold (a NUL byte).
    """
    return clean_parameters(parameters)


def exit_by_signal(code: int) -> ExitOutcome | None:
    """ExitOutcome for a negative (killed by signal) code as Popen reports it, else None."""
    if code < 0:
        try:
            name = _signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return ExitOutcome(False, f"killed by signal {name}")
    return None


class OutputReader(ABC):
    """Follows one output file; subclasses parse one complete line at a time.

    Only complete lines are consumed: a partial last line stays buffered
    until completed. The file may not exist yet (poll returns nothing).
    """

    #: a line longer than this is garbage (binary file, runaway output)
    max_line_bytes = 16 * 1024 * 1024
    #: poll() reads at most this much per call so the agent's loop stays responsive
    max_poll_bytes = 32 * 1024 * 1024
    #: try to parse an unterminated last line at finish(); off for formats where
    #: a cut line can look valid (CSV numbers)
    parse_unterminated_tail = True
    #: hand blank lines to parse_line too; for formats whose quoted fields span lines
    #: (a JTL's messages), where a blank line can be part of a value
    blank_lines_matter = False

    def __init__(self, path: Path, *, interval_s: float = 1.0, apdex_t_ms: float = 500.0,
                 builder: ResultBuilder | None = None):
        self.path = Path(path)
        self.builder = builder or ResultBuilder(interval_s, apdex_t_ms=apdex_t_ms)
        self._offset = 0
        self._pending = b""
        self._lineno = 0
        self._lines_ok = 0
        self._partial = False
        self._unreported: list[SeriesPoint] = []

    # -- for subclasses ---------------------------------------------------------
    @abstractmethod
    def parse_line(self, line: str) -> None:
        """Parse one complete line (non-blank, unless blank_lines_matter) and feed ``self.builder``.

        Raise ParseError(message) for bad content; the base adds file and line.
        """

    def end_of_output(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Hook called by finish() after the last line; raise ParseError if incomplete."""

    # -- reading ----------------------------------------------------------------
    def _handle(self, raw: bytes) -> None:
        self._lineno += 1
        raw = raw.rstrip(b"\r")
        if not raw.strip() and not self.blank_lines_matter:
            return
        try:
            self.parse_line(raw.decode("utf-8"))
        except ParseError as exc:
            raise ParseError(exc.reason, self.path, self._lineno) from exc
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                             self.path, self._lineno) from exc
        except Exception as exc:  # a parser slip must still read as a ParseError, not a crash
            raise ParseError(f"unreadable line ({exc.__class__.__name__}: {exc})",
                             self.path, self._lineno) from exc
        self._lines_ok += 1

    def _handle_block(self, block: bytes) -> None:
        """Handle complete lines: ``block`` is one or more lines joined by ``\\n`` (the last without it).

        Readers whose format allows it override this to skip or decode many
        lines at once; whatever they do must equal handling each line alone.
        """
        for raw in block.split(b"\n"):
            self._handle(raw)

    def _read_new(self, limit: int | None) -> None:
        try:
            with open(self.path, "rb") as f:
                self._consume(f, limit)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ParseError(f"cannot read output: {exc.strerror}", self.path) from exc

    def _consume(self, f, limit: int | None) -> None:
        if os.fstat(f.fileno()).st_size < self._offset:
            raise ParseError("output file shrank while being read", self.path)
        f.seek(self._offset)
        budget = limit
        while budget is None or budget > 0:
            chunk = f.read(1 << 20 if budget is None else min(1 << 20, budget))
            if not chunk:
                break
            self._offset += len(chunk)
            if budget is not None:
                budget -= len(chunk)
            data = self._pending + chunk
            cut = data.rfind(b"\n")
            if cut >= 0:
                self._pending = data[cut + 1:]
                self._handle_block(data[:cut])
            else:
                self._pending = data
            # closing intervals as we go frees their histograms: memory stays flat
            self._unreported.extend(self.builder.take_completed_series())
            if len(self._pending) > self.max_line_bytes:
                raise ParseError(f"line longer than {self.max_line_bytes} bytes "
                                 "(not a text output file?)", self.path, self._lineno + 1)

    def poll(self, now: float | None = None) -> list[SeriesPoint]:
        """Read new complete lines; return the series intervals closed since the last poll.

        ``now`` (epoch s) also closes intervals by the clock (see
        ResultBuilder.take_completed_series). Raises ParseError on bad output.
        """
        self._read_new(self.max_poll_bytes)
        self._unreported.extend(self.builder.take_completed_series(now))
        points, self._unreported = self._unreported, []
        return points

    def finish(self, apdex_t_ms: float | None = None) -> Result:
        """Read the rest of the output and return the final Result.

        A missing or empty file gives a Result with count 0. Raises
        ParseError on garbage, or when the only content is an unparseable
        unterminated line.
        """
        self._read_new(None)
        if self._pending.strip():
            tail, self._pending = self._pending, b""
            if not self.parse_unterminated_tail:
                self._partial = True
            else:
                try:
                    self._handle(tail)
                except ParseError:
                    if self._lines_ok == 0:
                        raise
                    self._partial = True  # tool stopped mid-line: documented partial output
        if self._lines_ok:
            try:
                self.end_of_output()
            except ParseError as exc:
                raise ParseError(exc.reason, self.path) from exc
        result = self.builder.result(apdex_t_ms)
        return replace(result, partial=True) if self._partial else result


class Adapter(ABC):
    """One tool. Subclasses set the class attributes and implement prepare/reader."""

    tool: str = ""
    #: the name the agent writes the test definition's script as, in work_dir
    script_filename: str = "script"
    #: executable looked up on PATH unless RunSpec.tool_path is given
    binary: str = ""
    #: arguments after the executable that print the version
    version_args: tuple[str, ...] = ("--version",)
    output_filename: str = "results.out"
    stop_policy: StopPolicy = StopPolicy()
    #: the tool applies RunSpec's egress deny lists (its prepare passes them on)
    restricts_egress: bool = False

    @property
    def version_argv(self) -> list[str]:
        """argv printing the tool's version, with the default executable."""
        return [self.binary, *self.version_args]

    def version_command(self, tool_path: str | None = None) -> list[str]:
        """argv printing the version, with an explicit executable if given."""
        return [tool_path or self.binary, *self.version_args]

    def executable(self, spec: RunSpec) -> str:
        return spec.tool_path or self.binary

    def output_path(self, spec: RunSpec) -> Path:
        return Path(spec.work_dir) / self.output_filename

    @abstractmethod
    def prepare(self, spec: RunSpec) -> Command:
        """Return the command running ``spec``; may write helper files into work_dir.

        Raises InvalidSpec for parameters the tool cannot take.
        """

    def check_split(self, parameters: Mapping[str, str], split: Split, script: str | None = None) -> None:
        """Raise InvalidSpec when a run with ``parameters`` (and ``script``) cannot be split as ``split`` says.

        The control plane calls this for every part before it places a split run
        (and when a monitor with a distribution is saved), so a split that would
        give some part no load is refused up front; ``prepare`` applies the split.
        By default every split is accepted.
        """
        return None

    #: the OutputReader subclass reading this tool's output file (or override file_reader)
    reader_class: type[OutputReader] | None = None

    def reader(self, spec: RunSpec) -> OutputReader:
        """Return an incremental reader of the command's output_path."""
        return self.file_reader(self.output_path(spec), interval_s=spec.interval_s,
                                apdex_t_ms=spec.apdex_t_ms, max_request_names=spec.max_request_names)

    def file_reader(self, path: Path, *, interval_s: float = 1.0, apdex_t_ms: float = 500.0,
                    max_request_names: int = DEFAULT_MAX_NAMES) -> OutputReader:
        """Return a reader of an output file of this tool at ``path`` (used by summarize)."""
        if self.reader_class is None:
            raise NotImplementedError(f"{type(self).__name__} sets no reader_class")
        builder = ResultBuilder(interval_s, apdex_t_ms=apdex_t_ms, max_names=max_request_names)
        return self.reader_class(path, interval_s=interval_s, apdex_t_ms=apdex_t_ms, builder=builder)

    #: exit codes other than 0 that still mean the run executed (e.g. k6's 99), with the reason
    executed_exit_codes: dict[int, str] = {}
    #: reasons for known failing exit codes; others get ``exit_fallback`` (formatted with tool, code)
    exit_reasons: dict[int, str] = {}
    exit_fallback = "{tool} exited with code {code}"

    def classify_exit(self, code: int) -> ExitOutcome:
        """Say whether exit ``code`` means the run executed: a stop signal, 0, or one of
        ``executed_exit_codes``; any other code is a failure with its reason."""
        by_signal = exit_by_signal(code)
        if by_signal:
            return by_signal
        if code == 0:
            return ExitOutcome(True, "exited 0")
        if code in self.executed_exit_codes:
            return ExitOutcome(True, self.executed_exit_codes[code])
        reason = self.exit_reasons.get(code) or self.exit_fallback.format(tool=self.tool or "tool", code=code)
        return ExitOutcome(False, reason)

    def detect_version(self, output: str) -> str | None:
        """Return the version found in the version command's output, or None."""
        match = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", output or "")
        return match.group(1) if match else None
