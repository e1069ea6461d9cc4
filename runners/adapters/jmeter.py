"""Apache JMeter 5.x (scripts/install-jmeter.sh installs 5.6.3 from Maven Central).

Command: ``jmeter -n -t plan.jmx -l jmeter-results.jtl -j jmeter.log
-q perfmon.properties -J<result settings>... -Jjmeterengine.nongui.port=0``.

Output: the JTL as CSV with a header line (``print_field_names``), flushed
after every sample (``autoflush``), timestamps in epoch ms and taken at the
START of the sample (``sampleresult.timestamp.start``). The reader finds
columns by the header, so the field set may vary; it needs ``timeStamp``,
``elapsed``, ``responseCode`` and ``success`` (``label``,
``responseMessage`` and ``failureMessage`` are used when present).
Sub-results are not saved (a sampler's embedded resources are inside its
own sample), so one line is one sample as JMeter's own listeners count it;
a Transaction Controller's own sample is a line too, as in JMeter's
reports. JMeter quotes a message holding commas, quotes or newlines (an
assertion's failure message often spans lines); such a field is read whole.

One record per line: ``ts`` = timeStamp / 1000, ``latency_ms`` = elapsed
(JMeter's whole-millisecond time from just before sending to the last byte
received), ``status`` = responseCode when it is numeric, else 0 (JMeter
writes e.g. ``Non HTTP response code: java.net.ConnectException`` when
there was no response), ``failed`` = not success (assertions included),
``name`` = label. ``error`` (why a failed sample failed, see error_of) is
the failed assertion's ``failureMessage``; without one, for a sample with
no response, JMeter's exception (``java.net.ConnectException: Connection
refused``, from responseCode and responseMessage); for one failed with a
status >= 400, nothing: the breakdown counts it as ``HTTP <status>``. The
JTL has no HTTP method, so ``method`` is "", and no assertion names (a CSV
JTL keeps only the first failure's message), so JMeter reports no checks.

The load level (each series point's ``vus``): JMeter saves the active
thread counts with each sample (``thread_counts``: the ``grpThreads`` and
``allThreads`` columns); ``allThreads``, the threads of all thread groups,
is fed to ResultBuilder.add_vus at the sample's end, in the interval the
sample counts in (the most of them is each interval's ``vus``). A JTL
without the column gives ``vus`` None.

Parameters: a JMeter property each (``${__P(NAME,default)}`` in the plan),
written to ``perfmon.properties`` (mode 0600, passed with ``-q``) so values
stay out of the process list, and environment variables (plans can read
them with ``${__groovy(System.getenv('NAME'))}``).

A part of a split run (runners/split.py) divides thread counts: every
parameter named ``threads`` or ending in ``_threads`` (any case: THREADS,
login_threads) must be a whole number and becomes the part's piece of it,
``Split.whole(n)`` (the pieces of all parts add up to n), in the property
and the environment variable alike; a plan that sets its thread group's
count from ``${__P(THREADS,1)}`` needs no change. The part is also passed
``-Jperfmon.part.index``, ``-Jperfmon.part.count`` and
``-Jperfmon.part.share`` (a decimal such as 0.6) for the plan to scale
anything else (a throughput timer's rate) with, and PERFMON_PART_* in the
environment. Ramp-up, duration and loops are not changed: each part ramps
its threads over the same time. A split that gives some part no thread of
a thread parameter is refused (check_split).

Exit codes: JMeter 5.6 exits 0 when the plan ran, even when samples failed
(the errors are in the JTL); 1 when the plan cannot be loaded or JMeter
fails to start; 130/143 after SIGINT/SIGTERM.

Stop: JMeter installs no signal handler. SIGTERM (or SIGINT) ends the JVM at
once (about 0.4 s measured), without its "tidying up": samples in flight are
lost, every completed one is already in the JTL (autoflush writes each line
whole), so the partial JTL parses. JMeter's graceful stop is a UDP message
to its shutdown port (4445..4455, what bin/shutdown.sh sends); perfmon turns
that port off (``jmeterengine.nongui.port=0``): the agent stops tools by
signal, and parallel runs would compete for the eleven ports and accept
each other's shutdown messages.
"""

from __future__ import annotations

import csv
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path

from runners.adapters.base import (
    Adapter,
    Command,
    OutputReader,
    RunSpec,
    StopPolicy,
    is_count_parameter,
    parameter_env,
    part_properties,
    split_counts,
    split_env,
)
from runners.errors import ParseError
from runners.result import Result
from runners.split import Split

PROPERTIES_FILENAME = "perfmon.properties"
LOG_FILENAME = "jmeter.log"

#: -J properties that make the JTL what JTLReader reads; -J beats the user's properties
RESULT_PROPERTIES = {
    "jmeter.save.saveservice.output_format": "csv",
    "jmeter.save.saveservice.print_field_names": "true",
    "jmeter.save.saveservice.autoflush": "true",
    "jmeter.save.saveservice.default_delimiter": ",",
    "jmeter.save.saveservice.timestamp_format": "ms",
    "jmeter.save.saveservice.time": "true",
    "jmeter.save.saveservice.label": "true",
    "jmeter.save.saveservice.response_code": "true",
    "jmeter.save.saveservice.successful": "true",
    # a failed sample's cause (JTLReader.error_of)
    "jmeter.save.saveservice.response_message": "true",
    "jmeter.save.saveservice.assertion_results_failure_message": "true",
    "jmeter.save.saveservice.subresults": "false",
    # grpThreads and allThreads: the load level of each series interval
    "jmeter.save.saveservice.thread_counts": "true",
    "sampleresult.timestamp.start": "true",
    # no UDP shutdown listener: see the module docstring
    "jmeterengine.nongui.port": "0",
}

REQUIRED_COLUMNS = ("timeStamp", "elapsed", "responseCode", "success")
_EXIT_REASONS = {
    1: "jmeter exited 1: the plan could not be loaded or JMeter failed (see jmeter.log)",
    130: "jmeter stopped by SIGINT (exit 130)",
    143: "jmeter stopped by SIGTERM (exit 143)",
}


def is_thread_parameter(name: str) -> bool:
    """Whether a split run divides parameter ``name`` as a thread count: ``threads`` or ``*_threads``, any case."""
    return is_count_parameter(name, "thread")


def split_threads(parameters: Mapping[str, str], split: Split) -> dict[str, int]:
    """The part's thread count of every thread parameter; InvalidSpec when some part gets none (split_counts)."""
    return split_counts(parameters, split, "thread")


def _escape_property(text: str, *, key: bool) -> str:
    """Escape for java.util.Properties.load (ISO-8859-1 file, \\uXXXX beyond)."""
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\f":
            out.append("\\f")
        elif ch in "=:#!" or (ch == " " and (key or i == 0)):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.extend(f"\\u{unit:04x}" for unit in _utf16_units(ch))
        else:
            out.append(ch)
    return "".join(out)


def _utf16_units(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def write_properties(path: Path, properties: dict[str, str]) -> None:
    """Write ``properties`` as a Java properties file readable by the owner only."""
    body = "".join(f"{_escape_property(k, key=True)}={_escape_property(v, key=False)}\n"
                   for k, v in properties.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write("# written by perfmon: the run's parameters\n" + body)


_NON_HTTP_CODE = "Non HTTP response code: "
_NON_HTTP_MESSAGE = "Non HTTP response message: "


def error_of(status: int, code: str, message: str, failure: str) -> str:
    """Why a failed sample failed: its assertion's failure message, else what JMeter says (see above)."""
    failure = failure.strip()
    if failure:
        return failure
    if status == 0:  # "Non HTTP response code: java.net.ConnectException" + its message
        kind = code.removeprefix(_NON_HTTP_CODE).strip()
        text = message.removeprefix(_NON_HTTP_MESSAGE).strip()
        return f"{kind}: {text}" if kind and text else kind or text
    if status < 400:  # failed by something other than its status: JMeter's message, if any
        return message.strip()
    return ""


class JTLReader(OutputReader):
    """Reads a CSV JTL with a header line: one RequestRecord per sample line."""

    # a cut line of numbers looks valid ("1795396470367,8" for elapsed 81): never guess
    parse_unterminated_tail = False
    # an assertion's failure message holds blank lines inside its quotes
    blank_lines_matter = True

    def __init__(self, path: Path, **kwargs):
        super().__init__(path, **kwargs)
        self._columns: dict[str, int] | None = None
        self._all_threads: int | None = None  # the allThreads column, when the JTL has it
        self._open_quote = ""  # lines of a record whose quoted field spans lines

    def _handle_block(self, block: bytes) -> None:
        # A line without a quote (nor CR or NUL, which the csv module treats apart) is its
        # fields split at the commas, exactly what csv.reader gives: such lines skip the csv
        # module; any other line, and every line while a quoted field is open, goes the
        # line-by-line way.
        if b"\r" in block or b"\x00" in block:
            super()._handle_block(block)
            return
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            super()._handle_block(block)
            return
        sample = self._sample
        for line in text.split("\n"):
            if self._open_quote or self._columns is None or '"' in line:
                self._handle(line.encode("utf-8"))
                continue
            self._lineno += 1
            if line.strip():
                try:
                    sample(line.split(","))
                except ParseError as exc:
                    raise ParseError(exc.reason, self.path, self._lineno) from exc
                except Exception as exc:  # as OutputReader._handle words a parser slip
                    raise ParseError(f"unreadable line ({exc.__class__.__name__}: {exc})",
                                     self.path, self._lineno) from exc
            self._lines_ok += 1

    def parse_line(self, line: str) -> None:
        if self._open_quote:
            line = self._open_quote + "\n" + line
            self._open_quote = ""
        elif not line.strip():
            return  # a blank line between records
        if line.count('"') % 2:
            if len(line) > self.max_line_bytes:
                raise ParseError("unterminated quoted field")
            self._open_quote = line  # the record goes on in the next line
            return
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            raise ParseError(f"not a CSV line ({exc})") from exc
        if self._columns is None:
            self._columns = columns = self._header(fields)
            self._all_threads = columns.get("allThreads")
            self._at = (len(columns), columns["timeStamp"], columns["elapsed"], columns["success"],
                        columns["responseCode"], columns.get("label"), columns.get("responseMessage"),
                        columns.get("failureMessage"), self._all_threads)
            return
        self._sample(fields)

    def end_of_output(self) -> None:
        if self._open_quote:
            raise ParseError("the file ends inside a quoted field")

    def finish(self, apdex_t_ms: float | None = None) -> Result:
        """Read the rest of the JTL and return the final Result.

        Raises ParseError on garbage, including content that never completes
        a header line (a binary file, another tool's output); a missing or
        empty file gives count 0.
        """
        result = super().finish(apdex_t_ms)
        if self._columns is None and result.partial:
            raise ParseError("no complete CSV header line: not a CSV JTL", self.path, 1)
        return result

    @staticmethod
    def _header(fields: list[str]) -> dict[str, int]:
        if fields and fields[0].lstrip().startswith("<"):
            raise ParseError("this JTL is XML; perfmon reads CSV JTL files "
                             "(jmeter.save.saveservice.output_format=csv)")
        columns = {name.strip(): i for i, name in enumerate(fields)}
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ParseError("not a CSV JTL header line (jmeter.save.saveservice."
                             f"print_field_names=true): missing {', '.join(missing)}")
        return columns

    def _sample(self, fields: list[str]) -> None:
        size, stamp_at, elapsed_at, success_at, code_at, label, message, failure, threads_at = self._at
        if len(fields) != size:
            raise ParseError(f"expected {size} fields as in the header, got {len(fields)}")
        stamp = fields[stamp_at]
        elapsed = fields[elapsed_at]
        if not stamp.isdigit():
            raise ParseError(f"timeStamp must be epoch milliseconds, got {stamp!r} "
                             "(jmeter.save.saveservice.timestamp_format=ms)")
        if not elapsed.lstrip("-").isdigit():
            raise ParseError(f"elapsed must be whole milliseconds, got {elapsed!r}")
        success = fields[success_at].strip().lower()
        if success not in ("true", "false"):
            raise ParseError(f"success must be true or false, got {success!r}")
        code = fields[code_at].strip()
        # "Non HTTP response code: ..." (no response) and other non-numeric codes: status 0
        status = int(code) if code.isdigit() and len(code) <= 3 else 0
        failed = success == "false"
        error = ""
        if failed or status >= 400 or status == 0:
            error = error_of(status, code, fields[message] if message is not None else "",
                             fields[failure] if failure is not None else "")
        threads = fields[threads_at] if threads_at is not None else None
        if threads is not None and not threads.isdigit():
            raise ParseError(f"allThreads must be a whole number, got {threads!r}")
        latency_ms = float(elapsed)
        ts, latency_ms = int(stamp) / 1000.0, latency_ms if latency_ms > 0.0 else 0.0
        # RequestRecord's fields, without building one per sample
        self.builder.add_request(ts, latency_ms, status, failed, fields[label] if label is not None else "", "",
                                 error)
        if threads is not None:
            # at its end, in the interval the sample counts in: JMeter counts threads as it ends
            self.builder.add_vus(ts + latency_ms / 1000.0, int(threads))


class JMeterAdapter(Adapter):
    tool = "jmeter"
    script_filename = "plan.jmx"
    binary = "jmeter"
    # -j /dev/null: otherwise JMeter leaves a jmeter.log wherever the version is asked
    version_args = ("-j", "/dev/null", "--version")
    output_filename = "jmeter-results.jtl"
    reader_class = JTLReader
    # 0 = the plan ran (failed samples are in the JTL); anything else is an error.
    exit_reasons = _EXIT_REASONS
    stop_policy = StopPolicy(
        signal=signal.SIGTERM, grace_s=10.0,
        note="JMeter has no signal handler: SIGTERM (or SIGINT) ends the JVM within a second "
             "(exit 143/130); samples in flight are lost, every completed one is already in "
             "the JTL (autoflush). Its UDP shutdown port is turned off.")

    def check_split(self, parameters: Mapping[str, str], split: Split, script: str | None = None) -> None:
        """Refuse a split that gives some part no thread of a thread parameter (split_threads)."""
        split_threads(parameters, split)

    def prepare(self, spec: RunSpec) -> Command:
        """Build ``jmeter -n``; writes perfmon.properties and removes a stale JTL and log.

        A part of a split run gets its piece of every thread parameter and
        the perfmon.part.* properties (the module docstring). Raises
        InvalidSpec for a parameter name that is not a valid environment
        variable name, a value with a NUL byte, or a split check_split refuses.
        """
        env = parameter_env(spec.parameters)
        part = {}
        if spec.split is not None:
            env.update({name: str(n) for name, n in split_threads(env, spec.split).items()})
            part = part_properties(spec.split)
        work_dir = Path(spec.work_dir)
        script = Path(spec.script_path)
        if not script.is_absolute():
            script = work_dir / script
        out = self.output_path(spec)
        # JMeter appends to an existing JTL without a new header line
        out.unlink(missing_ok=True)
        log = work_dir / LOG_FILENAME
        log.unlink(missing_ok=True)
        argv = [self.executable(spec), "-n", "-t", str(script), "-l", str(out), "-j", str(log)]
        if env:
            props = work_dir / PROPERTIES_FILENAME
            write_properties(props, env)
            argv += ["-q", str(props)]
        argv += [f"-J{name}={value}" for name, value in {**RESULT_PROPERTIES, **part}.items()]
        env.update(split_env(spec))
        return Command(argv=argv, env=env, cwd=work_dir, output_path=out, stop=self.stop_policy)

    def detect_version(self, output: str) -> str | None:
        """``jmeter --version`` prints an ASCII-art banner ending in ``5.6.3``."""
        match = re.search(r"(?<![\d.])(\d+\.\d+(?:\.\d+)?)\s*$", output or "", re.MULTILINE)
        return match.group(1) if match else super().detect_version(output)


ADAPTER = JMeterAdapter()
