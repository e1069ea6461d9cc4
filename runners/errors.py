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


class InvalidSettings(InvalidSpec):
    """Thresholds or parameters that break the rules of runners/validation.py.

    ``field`` names the object ("thresholds" or "parameters"). ``errors`` maps
    each offending key to its messages; it is empty when ``problem`` says what
    is wrong with the object as a whole (not an object, too many entries).
    """

    def __init__(self, field: str, *, errors: dict[str, list[str]] | None = None, problem: str = ""):
        self.field = field
        self.errors = dict(errors or {})
        self.problem = problem
        if self.errors:
            key, messages = next(iter(self.errors.items()))
            super().__init__(f"{field}: {key}: {messages[0]}")
        else:
            super().__init__(f"{field}: {problem}")

    def details(self) -> dict:
        """Per-field details: ``{field: {key: [messages]}}``, or ``{field: [problem]}`` for the whole object."""
        return {self.field: self.errors} if self.errors else {self.field: [self.problem]}


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
