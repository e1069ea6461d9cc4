"""Artillery (https://www.artillery.io, npm ``artillery``; scripts/install-artillery.sh).

Command: ``artillery run [--config perfmon-variables.json] [--target URL]
[--overrides PART_PHASES] script.yml``.

Measurement: Artillery does not count an HTTP 500 as an error and writes no
report when stopped early, so a plugin of ours (artillery_processor.js,
copied to ``<work dir>/.perfmon-artillery/artillery-plugin-perfmon/``)
streams every HTTP request as a perfmon result stream v1 to the path in
PERFMON_RESULT_PATH; runners.stream reads it. It is enabled through
Artillery's ARTILLERY_PLUGINS / ARTILLERY_PLUGIN_PATH variables, so the
user's YAML is run as written: their ``config.processor`` and hooks keep
working, ours are added in front of theirs. Latency is got's
``timings.phases.total`` (request created .. body ended, whole ms); a
connection error or timeout is a record with status 0. Each record has the
request's ``name`` (else ``METHOD path``), its method and, for a connection
error, Artillery's own error key (``ECONNREFUSED``, ``ETIMEDOUT``: err.code,
else its message) as the cause; the expect plugin's expectations, when the
script enables it, become checks (``home: statusCode 200``).

Parameters: every parameter is an environment variable (``{{ $env.NAME }}``
in the YAML) and an Artillery variable (``{{ NAME }}``), the latter through
a generated config file rather than ``--variables`` so values (tokens) do
not show in the process list. TARGET, if given, is passed as ``--target``.
RunSpec.duration_s is not used: the script's phases set the duration and
the agent's time limit stops it.

A part of a split run (runners/split.py) runs the script with its own
phases: ``--overrides '{"config":{"phases":[...]}}'`` replaces the script's
``config.phases`` with the part's whole pieces of every phase's arrivals
(runners/adapters/artillery_phases.py says how rates, counts, ramps and
maxVusers divide and what is refused), so the parts' arrivals add up to the
unsplit run's. The part also gets PERFMON_PART_INDEX, PERFMON_PART_COUNT,
PERFMON_PART_SHARE and the execution segment in its environment
(``{{ $env.PERFMON_PART_INDEX }}`` in the script).

Exit codes: 0 = ran; 21 = ran, and the expect plugin saw failed
expectations (they are in the result's checks; thresholds judge them);
1 = Artillery could not run the script, or the script's own ``ensure``
checks failed (Artillery uses 1 for both; the log says which); 130/143 =
stopped by SIGINT/SIGTERM. Both signals end it within
a second without a report; requests in flight are dropped, every finished
one is already in the stream (one write per record).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from runners.adapters import artillery_phases
from runners.adapters.base import (
    Adapter,
    Command,
    RunSpec,
    StopPolicy,
    parameter_env,
    split_env,
)
from runners.errors import InvalidSpec
from runners.split import Split
from runners.stream import RESULT_PATH_ENV, StreamReader

PLUGIN_SOURCE = Path(__file__).with_name("artillery_processor.js")
PLUGIN_NAME = "perfmon"
#: ARTILLERY_PLUGIN_PATH entry; Artillery looks for artillery-plugin-<name> in it
PLUGIN_ROOT = ".perfmon-artillery"
VARIABLES_FILENAME = "perfmon-variables.json"
TARGET_PARAMETER = "TARGET"
_EXIT_REASONS = {
    1: "artillery exited 1: the script could not run, or its own `ensure` checks failed "
       "(see the log)",
    130: "artillery stopped by SIGINT (exit 130)",
    143: "artillery stopped by SIGTERM (exit 143)",
}


def _plugins_env(parameters) -> str:
    """ARTILLERY_PLUGINS with ours added to any the parameters already enable."""
    plugins = {}
    raw = parameters.get("ARTILLERY_PLUGINS")
    if raw:
        try:
            plugins = json.loads(raw)
        except ValueError as exc:
            raise InvalidSpec(f"ARTILLERY_PLUGINS must be a JSON object: {exc}") from exc
        if not isinstance(plugins, dict):
            raise InvalidSpec("ARTILLERY_PLUGINS must be a JSON object")
    plugins[PLUGIN_NAME] = {}
    return json.dumps(plugins)


def _install_plugin(work_dir: Path) -> Path:
    """Copy our plugin into work_dir; return the directory for ARTILLERY_PLUGIN_PATH."""
    root = work_dir / PLUGIN_ROOT
    plugin_dir = root / f"artillery-plugin-{PLUGIN_NAME}"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PLUGIN_SOURCE, plugin_dir / "index.js")
    # Its own package.json pins CommonJS, whatever a package.json further up says.
    (plugin_dir / "package.json").write_text(json.dumps(
        {"name": f"artillery-plugin-{PLUGIN_NAME}", "private": True,
         "type": "commonjs", "main": "index.js"}) + "\n")
    return root


def _write_variables(path: Path, parameters) -> None:
    """Write the parameters as config.variables, readable by the owner only."""
    body = json.dumps({"config": {"variables": dict(parameters)}})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body + "\n")


class ArtilleryAdapter(Adapter):
    tool = "artillery"
    script_filename = "script.yml"
    binary = "artillery"
    version_args = ("--version",)
    output_filename = "artillery-results.ndjson"
    reader_class = StreamReader
    # 0 = ran; 21 = ran, the expect plugin saw failed expectations (they are checks);
    # 1 = script error or failed ``ensure``; 130/143 = stopped by signal.
    executed_exit_codes = {21: "artillery expectations failed (exit 21); the run executed"}
    exit_reasons = _EXIT_REASONS
    stop_policy = StopPolicy(
        signal=signal.SIGINT, grace_s=5.0,
        note="SIGINT or SIGTERM ends Artillery within a second (exit 130/143) without its "
             "report; requests in flight are dropped, finished ones are in our stream.")

    def check_split(self, parameters: Mapping[str, str], split: Split, script: str | None = None) -> None:
        """Refuse a split of the ``script``'s phases that some part cannot run (artillery_phases).

        Artillery's load is in the script, not in the parameters: without the
        script's text there is nothing to check and every split is accepted;
        prepare() checks the phases of the script it runs either way.
        """
        if script is not None:
            artillery_phases.check(artillery_phases.read_phases(script), split, parameters)

    def prepare(self, spec: RunSpec) -> Command:
        """Install our plugin in work_dir and build the ``artillery run`` command.

        Writes the parameters file (when there are parameters) beside the
        script, so relative paths in the script resolve as before; removes a
        stale output file. A part of a split run gets its phases in
        ``--overrides``. Raises InvalidSpec for a bad parameter name, a
        parameter ARTILLERY_PLUGINS that is not a JSON object, or a split
        whose phases cannot be divided (check_split).
        """
        env = parameter_env(spec.parameters)
        work_dir = Path(spec.work_dir)
        script = Path(spec.script_path)
        if not script.is_absolute():
            script = work_dir / script
        plugin_root = _install_plugin(work_dir)
        out = self.output_path(spec)
        out.unlink(missing_ok=True)

        argv = [self.executable(spec), "run"]
        if spec.parameters:
            variables = script.parent / VARIABLES_FILENAME
            _write_variables(variables, env)
            argv += ["--config", str(variables)]
        target = spec.parameters.get(TARGET_PARAMETER)
        if target:
            argv += ["--target", str(target)]
        if spec.split is not None:
            phases = artillery_phases.read_phases(script.read_text(encoding="utf-8"))
            # every part checks every part: they all refuse the same split, or none does
            artillery_phases.check(phases, spec.split, env)
            part, _ = artillery_phases.part_phases(phases, spec.split, env)
            argv += ["--overrides", artillery_phases.overrides(part)]
            env.update(split_env(spec))
        argv.append(str(script))

        user_plugin_path = env.get("ARTILLERY_PLUGIN_PATH")
        env.update({
            RESULT_PATH_ENV: str(out),
            "ARTILLERY_PLUGINS": _plugins_env(spec.parameters),
            "ARTILLERY_PLUGIN_PATH": str(plugin_root) + (
                os.pathsep + user_plugin_path if user_plugin_path else ""),
            # Artillery posts anonymous usage events unless this is set.
            "ARTILLERY_DISABLE_TELEMETRY": "true",
        })
        return Command(argv=argv, env=env, cwd=work_dir, output_path=out, stop=self.stop_policy)

    def detect_version(self, output: str) -> str | None:
        """``artillery --version`` prints a banner then ``Artillery: 2.0.34``."""
        match = re.search(r"^\s*Artillery:\s*v?(\d+\.\d+\.\d+\S*)", output or "", re.MULTILINE)
        return match.group(1) if match else super().detect_version(output)


ADAPTER = ArtilleryAdapter()
