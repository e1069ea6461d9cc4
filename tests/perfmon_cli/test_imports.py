"""The CLI is a plain HTTP client: it imports neither Django nor the server's packages."""

import ast
import subprocess
import sys
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "perfmon_cli"
FORBIDDEN = ("django", "rest_framework", "celery", "perfmon", "agents", "runners")


def test_no_module_of_the_cli_imports_the_server():
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path.name} imports {name}"


def test_importing_the_cli_loads_no_django():
    code = "import sys, perfmon_cli.main; print(any(m.split('.')[0] in ('django', 'perfmon') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
