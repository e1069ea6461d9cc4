"""Errors raised by the runners package.

Everything runners raises on purpose derives from :class:`RunnerError`, so a
caller (the agent, the control plane, the CLI) can catch one type and turn it
into a clear message instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RunnerError(Exception):
    """Base class of every error runners raises deliberately."""


class UnknownTool(RunnerError):
    """The tool name is not in the adapter registry."""

    def __init__(self, tool: str, known: tuple[str, ...] = ()):
        self.tool = tool
        hint = f" (known tools: {', '.join(known)})" if known else ""
        super().__init__(f"unknown tool {tool!r}{hint}")


class InvalidSpec(RunnerError):
    """A RunSpec cannot be turned into a command (bad parameter name, bad value)."""


class ParseError(RunnerError):
    """Tool output could not be read.

    ``path`` and ``line`` say where, when known; ``str(err)`` always carries
    them so the message alone is enough for a log line or the CLI.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.reason = message
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None and line is not None:
            where = f"{self.path}, line {line}: "
        elif self.path is not None:
            where = f"{self.path}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(f"{where}{message}")


class AdapterUnavailable(RunnerError):
    """A registered tool's adapter module cannot be imported (broken or partial install)."""
