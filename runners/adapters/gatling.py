"""Gatling 3 with the Java DSL (scripts/install-gatling.sh installs 3.15.1 from Maven Central).

Script: one Java source file (written as ``simulation.java``) whose class
extends ``io.gatling.javaapi.core.Simulation``; the file name does not matter.
Our launcher (var/tools/bin/gatling) compiles it with javac against the
installed Gatling and runs ``io.gatling.app.Gatling --simulation CLASS``.

Command: ``gatling [@perfmon-gatling.args] -Dgatling.data.enableAnalytics=false
-Dgatling.http.warmUpUrl= --results-folder <work>/gatling-results --no-reports
simulation.java``. No HTML report: perfmon computes its own figures, and the
report costs a second pass over the log at the end.

Measurement: Gatling 3.15 writes no per-request output but its binary
``simulation.log``; ``runners.adapters.gatling_log`` decodes it (every
request, exact to Gatling's whole milliseconds; series arrive in 8 KiB
bursts while Gatling runs).

Parameters: JVM system properties (``System.getProperty("NAME")`` in the
simulation; Gatling's own ``gatling.*`` settings cannot be set this way, as
parameter names are environment variable names), written to a java argument
file (``perfmon-gatling.args``, mode 0600) so values stay out of the process
list, and environment variables (``System.getenv("NAME")``).

A part of a split run (runners/split.py) divides user counts: every
parameter named ``users`` or ending in ``_users`` (any case: USERS,
login_users) must be a whole number and becomes the part's piece of it,
``Split.whole(n)`` (the pieces of all parts add up to n), in the system
property and the environment variable alike; a simulation that injects
``atOnceUsers(Integer.getInteger("USERS", 1))`` or
``rampUsers(Integer.getInteger("USERS", 1)).during(...)`` needs no change.
The part is also passed ``-Dperfmon.part.index``, ``-Dperfmon.part.count``
and ``-Dperfmon.part.share`` (a decimal such as 0.6, to scale anything else,
e.g. a rate) in the argument file, and PERFMON_PART_* in the environment.
Durations are not changed. A split that gives some part no user of a users
parameter is refused (check_split).

Exit codes: 0 ok; 2 = the simulation's own Gatling assertions failed, the
run executed (ok); 1 = invalid arguments or the simulation crashed; 3 = our
launcher: the simulation does not compile.

Stop: Gatling installs no signal handler; SIGTERM (or SIGINT) ends the JVM
at once (about 0.4 s measured) WITHOUT flushing its buffer: up to the last
8 KiB of records (a few hundred requests) are lost and the log ends inside
a record, which the reader ignores (``partial``). Counts stay exact for what
the log holds. A simulation should end by its own injection profile or
``maxDuration``; the signal is for cancelling.
"""

from __future__ import annotations

import os
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
    is_count_parameter,
    parameter_env,
    part_properties,
    split_counts,
    split_env,
)
from runners.adapters.gatling_log import SimulationLogReader
from runners.split import Split

RESULTS_DIRNAME = "gatling-results"
ARGS_FILENAME = "perfmon-gatling.args"
_EXIT_REASONS = {
    1: "gatling exited 1: invalid arguments or the simulation crashed (see the log)",
    3: "the simulation does not compile (see the log)",
    130: "gatling stopped by SIGINT (exit 130)",
    143: "gatling stopped by SIGTERM (exit 143)",
}


def is_users_parameter(name: str) -> bool:
    """Whether a split run divides parameter ``name`` as a user count: ``users`` or ``*_users``, any case."""
    return is_count_parameter(name, "user")


def split_users(parameters: Mapping[str, str], split: Split) -> dict[str, int]:
    """The part's piece of every users parameter; InvalidSpec when some part gets none (split_counts)."""
    return split_counts(parameters, split, "user")


def _argfile_line(name: str, value: str) -> str:
    """One ``"-Dname=value"`` line of a java @argfile (quoted, backslash escapes)."""
    escaped = (f"-D{name}={value}".replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
               .replace("\f", "\\f"))
    return f'"{escaped}"\n'


def write_argfile(path: Path, parameters: dict[str, str]) -> None:
    """Write the parameters as -D system properties in a java argument file (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(_argfile_line(k, v) for k, v in parameters.items()))


class GatlingAdapter(Adapter):
    tool = "gatling"
    script_filename = "simulation.java"
    binary = "gatling"
    version_args = ("--version",)
    output_filename = RESULTS_DIRNAME
    reader_class = SimulationLogReader
    # 2 = the simulation's own assertions failed: it executed, like k6's 99.
    executed_exit_codes = {2: "Gatling assertions failed (exit 2); the run executed"}
    exit_reasons = _EXIT_REASONS
    stop_policy = StopPolicy(
        signal=signal.SIGTERM, grace_s=10.0,
        note="Gatling has no signal handler: SIGTERM (or SIGINT) ends the JVM within a second "
             "(exit 143/130) without flushing simulation.log's 8 KiB buffer; the records "
             "already written parse, the cut last one is ignored (partial).")

    def check_split(self, parameters: Mapping[str, str], split: Split, script: str | None = None) -> None:
        """Refuse a split that gives some part no user of a users parameter (split_users)."""
        split_users(parameters, split)

    def prepare(self, spec: RunSpec) -> Command:
        """Build the launcher command; writes the argument file, removes stale results.

        ``output_path`` is the results folder; Gatling creates
        ``<run id>/simulation.log`` in it. A part of a split run gets its
        piece of every users parameter and the perfmon.part.* properties (the
        module docstring). Raises InvalidSpec for a bad parameter name, a
        value with a NUL byte, or a split check_split refuses.
        """
        env = parameter_env(spec.parameters)
        properties = dict(env)
        if spec.split is not None:
            env.update({name: str(n) for name, n in split_users(env, spec.split).items()})
            properties = {**env, **part_properties(spec.split)}
        work_dir = Path(spec.work_dir)
        script = Path(spec.script_path)
        if not script.is_absolute():
            script = work_dir / script
        results = self.output_path(spec)
        shutil.rmtree(results, ignore_errors=True)
        argv = [self.executable(spec)]
        if properties:
            args = work_dir / ARGS_FILENAME
            write_argfile(args, properties)
            argv.append(f"@{args}")
        argv += ["-Dgatling.data.enableAnalytics=false", "-Dgatling.http.warmUpUrl=",
                 "--results-folder", str(results.absolute()), "--no-reports", str(script)]
        env.update(split_env(spec))
        env["PERFMON_GATLING_CLASSES"] = str(work_dir / ".gatling-classes")
        return Command(argv=argv, env=env, cwd=work_dir, output_path=results,
                       stop=self.stop_policy)

    def detect_version(self, output: str) -> str | None:
        """Our launcher's ``gatling --version`` prints ``Gatling 3.15.1``."""
        match = re.search(r"\bGatling\s+v?(\d+\.\d+\.\d+\S*)", output or "", re.IGNORECASE)
        return match.group(1) if match else super().detect_version(output)


ADAPTER = GatlingAdapter()
