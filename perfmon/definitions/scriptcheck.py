"""A syntax check of k6 scripts when they are saved, so a typo fails at once, not at 3 a.m.

The check is Node.js's ``node --check`` on the script as an ES module: it
parses and never executes. ``k6 inspect`` is not used on purpose: it runs the
script's init code, and on the control plane that code could ``open()`` the
server's own files and echo them back in an error message.

Where no Node.js is installed beside the control plane (``PERFMON_NODE_BINARY``
empty or not found), or the script is TypeScript (k6 runs .ts, Node 20 does not
parse it), nothing is checked here and a syntax error ends the first run as
``error`` with k6's own message (docs/api.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

CHECK_TIMEOUT_S = 10.0
_LOCATION = re.compile(r":(\d+)$")


def node_binary() -> str | None:
    """The node executable the check uses, or None when the check is off or Node.js is missing."""
    configured = getattr(settings, "PERFMON_NODE_BINARY", "node")
    return shutil.which(configured) if configured else None


def k6_syntax_error(script: str, *, filename: str = "") -> str | None:
    """Why ``script`` is not valid JavaScript (``"line 3: SyntaxError: …"``), or None.

    None also when nothing could be checked (no Node.js, a TypeScript file, a
    check that did not finish in time): the first run then decides.
    """
    node = node_binary()
    if node is None or filename.lower().endswith((".ts", ".mts", ".cts")):
        return None
    with tempfile.TemporaryDirectory(prefix="perfmon-check-") as workdir:
        path = Path(workdir) / "script.mjs"
        path.write_text(script)
        try:
            checked = subprocess.run(
                [node, "--check", str(path)], cwd=workdir, capture_output=True, text=True,
                timeout=CHECK_TIMEOUT_S, check=False,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # none of the server's settings
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    if checked.returncode == 0:
        return None
    return _describe(checked.stderr, str(path))


def _describe(stderr: str, path: str) -> str:
    """Node's report in one line: where, and the SyntaxError's own words."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    message = next((line for line in lines if re.match(r"^\w*Error\b", line)), "")
    where = ""
    for line in lines:
        if line.startswith(path) and (found := _LOCATION.search(line)):
            where = f"line {found.group(1)}: "
            break
    if not message:
        return "the script is not valid JavaScript"
    return f"{where}{message}"
