"""custom: any executable from the test definition that writes a perfmon result stream.

The agent writes the test definition's script as ``script`` (mode 0700) in
the work dir. Command: ``./script RESULT_PATH``; the same path is in the
environment as PERFMON_RESULT_PATH (RunSpec.tool_path, if set, is an
interpreter put in front: ``python3 ./script RESULT_PATH``), the parameters are environment
variables, and PERFMON_DURATION_S holds RunSpec.duration_s when set. The
script writes the perfmon result stream v1 (runners/stream.py,
docs/custom-tools.md) to that path, appending and flushing as it goes so the
agent can show series while it runs.

A part of a split run (runners/split.py) gets its share in the
environment: PERFMON_PART_INDEX (0-based), PERFMON_PART_COUNT,
PERFMON_PART_SHARE (a decimal), PERFMON_EXECUTION_SEGMENT (the part's
``start:end`` fractions, e.g. ``1/3:2/3``) and
PERFMON_EXECUTION_SEGMENT_SEQUENCE (every part's boundaries, ``0,1/3,2/3,1``).
The script divides its own load by them; docs/distributed-tools.md
shows how to take an exact whole piece of a count.

Exit codes: 0 = ran; anything else is an execution error. Stop: SIGTERM,
then SIGKILL after 10 s; whatever complete lines the script wrote are read.
"""

from __future__ import annotations

import signal
from pathlib import Path

from runners.adapters.base import Adapter, Command, RunSpec, StopPolicy, parameter_env, split_env
from runners.stream import RESULT_PATH_ENV, StreamReader

DURATION_ENV = "PERFMON_DURATION_S"


class CustomAdapter(Adapter):
    tool = "custom"
    script_filename = "script"
    binary = ""  # the script itself is the executable
    version_args = ()
    output_filename = "perfmon-results.ndjson"
    reader_class = StreamReader
    stop_policy = StopPolicy(
        signal=signal.SIGTERM, grace_s=10.0,
        note="SIGTERM, then SIGKILL; the complete lines written so far are read.")

    def prepare(self, spec: RunSpec) -> Command:
        """Build ``script RESULT_PATH``; removes a stale output file.

        A part of a split run also gets PERFMON_PART_* and the execution
        segment in its environment. Raises InvalidSpec for bad parameter names.
        """
        env = parameter_env(spec.parameters)
        env.update(split_env(spec))
        out = self.output_path(spec)
        out.unlink(missing_ok=True)
        env[RESULT_PATH_ENV] = str(out)
        if spec.duration_s is not None:
            env[DURATION_ENV] = f"{spec.duration_s:g}"
        # tool_path, if given, is an interpreter to run the script with (no exec bit needed)
        argv = [str(Path(spec.script_path).resolve()), str(out)]
        if spec.tool_path:
            argv.insert(0, spec.tool_path)
        return Command(argv=argv, env=env, cwd=Path(spec.work_dir),
                       output_path=out, stop=self.stop_policy)

    @property
    def version_argv(self) -> list[str]:
        """A custom script has no version command."""
        return []

    def version_command(self, tool_path: str | None = None) -> list[str]:
        return []

    def detect_version(self, output: str) -> str | None:
        """Custom scripts are versioned with their test definition: always None."""
        return None


ADAPTER = CustomAdapter()
