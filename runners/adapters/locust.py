"""Locust (https://locust.io, PyPI ``locust``).

Command: ``locust -f locustfile.py,perfmon_locust_listener.py --headless
--only-summary -u USERS -r SPAWN_RATE -t RUN_TIME --stop-timeout S
--exit-code-on-error 0``.
Parameters reach Locust as environment variables (Locust reads ``LOCUST_*``
variables itself, e.g. ``LOCUST_HOST``; the locustfile reads any of them with
``os.environ``). Users, spawn rate and run time come from the parameters
LOCUST_USERS (default 1), LOCUST_SPAWN_RATE (default: all users in the first
second) and LOCUST_RUN_TIME (Locust's time string, e.g. ``30s``, ``2m``;
default RunSpec.duration_s rounded up to whole seconds, else 60 s), and
LOCUST_STOP_TIMEOUT (default 10 s): at the end of the run time, users finish
the task they are in, so requests are not cut off mid-flight and the
stream's counts match what the target served.

A part of a split run (runners/split.py) runs its piece of the users,
``Split.whole(LOCUST_USERS)`` (the pieces of all parts add up to
LOCUST_USERS), at its share of LOCUST_SPAWN_RATE (default: all of the
part's users in the first second), and sees those values as LOCUST_USERS
and LOCUST_SPAWN_RATE in its environment too, with PERFMON_PART_INDEX,
PERFMON_PART_COUNT, PERFMON_PART_SHARE and the execution segment. A split
that leaves some part without a user is refused (check_split).

Output: our listener module (locust_listener.py, copied into the work dir)
streams every request as a perfmon result stream v1 to the path in
PERFMON_RESULT_PATH; runners.stream reads it. Latency is Locust's own
``response_time`` (ms, perf_counter based); the start time is Locust's
``start_time``. Locust marks a 500 failed unless the script catches the
response; the common error rule counts it from the status anyway. Each
record carries Locust's name, its request_type as the method and, for a
failed request, the failure as Locust's failure statistics show it (the
exception's repr, e.g. ``CatchResponseError('no token')``) as its cause.
The load level (each series point's ``vus``) is Locust's count of active
users, ``runner.user_count``, which the listener writes about once a second
and when spawning completes as a load line shaped like a repeated header
(``{"perfmon_stream": 1, "vus": 3, "t": ...}``); LocustReader feeds it to
ResultBuilder.add_vus. A stream without load lines reads as before (vus
None), and any other stream reader skips them.
Locust has no named checks: a script's ``response.failure(...)`` is such a
cause, so Locust reports no checks.

Exit codes: ``--exit-code-on-error 0`` keeps failed requests from setting
the exit code, so 0 = ran, 1 = Locust could not run (locustfile error,
bad option), 2 = an unhandled exception in a greenlet. SIGINT and SIGTERM
both shut Locust down (it fires ``quitting``, prints its summary); every
request already finished is in the stream because it is written per line.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from runners.adapters.base import (
    Adapter,
    Command,
    RunSpec,
    StopPolicy,
    parameter_env,
    split_env,
)
from runners.errors import InvalidSpec, ParseError
from runners.split import Split
from runners.stream import HEADER_KEY, RESULT_PATH_ENV, StreamReader

LISTENER_SOURCE = Path(__file__).with_name("locust_listener.py")
LISTENER_FILENAME = "perfmon_locust_listener.py"
DEFAULT_RUN_TIME_S = 60
DEFAULT_STOP_TIMEOUT_S = 10.0
_TIMESPAN = re.compile(r"^(?=\d)(\d+h)?(\d+m)?(\d+s?)?$")


def _positive(parameters, name: str, default: float, kind=float) -> float:
    raw = parameters.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = kind(str(raw).strip())
    except ValueError as exc:
        raise InvalidSpec(f"{name} must be a {kind.__name__} > 0, got {raw!r}") from exc
    if not value > 0:
        raise InvalidSpec(f"{name} must be > 0, got {raw!r}")
    return value


def run_time(spec: RunSpec) -> str:
    """Locust ``--run-time`` for the spec (see the module docstring); raises InvalidSpec."""
    raw = spec.parameters.get("LOCUST_RUN_TIME")
    if raw is not None and str(raw).strip():
        raw = str(raw).strip()
        if not _TIMESPAN.match(raw):
            raise InvalidSpec(f"LOCUST_RUN_TIME must look like 30s, 5m or 1h30m, got {raw!r}")
        return raw
    if spec.duration_s is not None:
        if not spec.duration_s > 0:
            raise InvalidSpec(f"duration_s must be > 0, got {spec.duration_s!r}")
        return f"{max(1, math.ceil(spec.duration_s))}s"
    return f"{DEFAULT_RUN_TIME_S}s"


class LocustReader(StreamReader):
    """The listener's stream: requests as StreamReader reads them, plus its load lines."""

    _LOAD_PREFIX = '{"' + HEADER_KEY + '"'

    def parse_line(self, line: str) -> None:
        super().parse_line(line)
        # header-shaped lines are rare (one a second): a second parse costs nothing
        if line.startswith(self._LOAD_PREFIX) and '"vus"' in line:
            obj = json.loads(line)
            if "vus" in obj:
                self._load(obj)

    def _load(self, obj: dict) -> None:
        vus, when = obj.get("vus"), obj.get("t")
        if isinstance(vus, bool) or not isinstance(vus, int) or vus < 0:
            raise ParseError(f"'vus' must be an integer >= 0, got {vus!r}")
        if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(when) \
                or when < 0:
            raise ParseError(f"a load line's 't' must be epoch seconds, got {when!r}")
        self.builder.add_vus(float(when), vus)


class LocustAdapter(Adapter):
    tool = "locust"
    script_filename = "locustfile.py"
    binary = "locust"
    version_args = ("--version",)
    output_filename = "locust-results.ndjson"
    reader_class = LocustReader
    # 0 = ran (failed requests do not change it); 1/2 = Locust could not run cleanly.
    exit_reasons = {2: "locust exited 2: unhandled exception in a greenlet"}
    exit_fallback = "locust exited {code} (locustfile or option error; see log)"
    stop_policy = StopPolicy(
        signal=signal.SIGINT, grace_s=10.0,
        note="SIGINT (or SIGTERM) shuts Locust down and prints its summary; the listener "
             "writes each request as it ends, so nothing finished is lost.")

    def check_split(self, parameters: Mapping[str, str], split: Split, script: str | None = None) -> None:
        """Refuse a split of LOCUST_USERS that gives some part no user (or a bad LOCUST_USERS)."""
        users = int(_positive(parameters, "LOCUST_USERS", 1, int))
        if split.smallest_whole(users) == 0:
            raise InvalidSpec(f"LOCUST_USERS={users} cannot be split over {split.count} parts: "
                              "every part needs at least one user")

    def prepare(self, spec: RunSpec) -> Command:
        """Copy the listener into work_dir and build the headless locust command.

        A part of a split run gets its piece of the users and of the spawn
        rate (the module docstring). Removes a stale output file. Raises
        InvalidSpec for bad parameters and for a split check_split refuses.
        """
        env = parameter_env(spec.parameters)
        users = int(_positive(spec.parameters, "LOCUST_USERS", 1, int))
        rate = spec.parameters.get("LOCUST_SPAWN_RATE")
        spawn_rate = _positive(spec.parameters, "LOCUST_SPAWN_RATE", float(users))
        if spec.split is not None:
            self.check_split(spec.parameters, spec.split)
            users = spec.split.whole(users)
            # the default stays "all users in the first second": the part's own users
            explicit = rate is not None and str(rate).strip() != ""
            spawn_rate = spec.split.scaled(spawn_rate) if explicit else float(users)
            # Locust reads LOCUST_* variables too: the part's values, so -u and the env agree
            if "LOCUST_USERS" in env:
                env["LOCUST_USERS"] = str(users)
            if explicit:
                env["LOCUST_SPAWN_RATE"] = f"{spawn_rate:g}"
            env.update(split_env(spec))
        stop_timeout = _positive(spec.parameters, "LOCUST_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT_S)
        work_dir = Path(spec.work_dir)
        listener = work_dir / LISTENER_FILENAME
        shutil.copyfile(LISTENER_SOURCE, listener)
        out = self.output_path(spec)
        out.unlink(missing_ok=True)
        argv = [self.executable(spec), "-f", f"{Path(spec.script_path)},{listener}",
                "--headless", "--only-summary", "-u", str(users), "-r", f"{spawn_rate:g}",
                "-t", run_time(spec), "--stop-timeout", f"{stop_timeout:g}",
                "--exit-code-on-error", "0"]
        env[RESULT_PATH_ENV] = str(out)
        return Command(argv=argv, env=env, cwd=work_dir, output_path=out, stop=self.stop_policy)

    def detect_version(self, output: str) -> str | None:
        """``locust 2.47.0 from ... (Python 3.11.7)`` -> ``2.47.0``."""
        match = re.search(r"\blocust (\d+\.\d+(?:\.\d+)?\S*)", output or "")
        return match.group(1) if match else super().detect_version(output)


ADAPTER = LocustAdapter()
