"""perfmon-agent: the regional agent that runs load tools next to the systems under test.

A Celery worker on its own queue (``agent.<id>``) plus an HTTP reporter to
the control plane's /agent-api/v1. It imports ``runners`` for the tools and
never Django or ``perfmon`` (tests/test_dependency_rules.py checks it).
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("perfmon")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
