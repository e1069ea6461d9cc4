"""Installing perfmon: `make up`'s editable install builds without setuptools' warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_editable_install_prints_no_build_warnings(tmp_path):
    # A throwaway virtualenv: pip would otherwise replace the project's own install.
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-e", str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    output = install.stdout + install.stderr
    assert install.returncode == 0, output[-3000:]
    assert "Warning" not in output, output[-3000:]
    # the install is a plain path entry: the checkout's packages are found there (their dependencies aren't installed)
    found = subprocess.run(
        [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('runners').origin)"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert found.stdout.strip() == str(ROOT / "runners" / "__init__.py")
