"""The registry of tool adapters: one module per tool, one line per tool here.

Modules are imported on first use, so a tool module that fails to import (or
is not written yet) only breaks that tool.
"""

from __future__ import annotations

import importlib

from runners.adapters.base import Adapter
from runners.errors import AdapterUnavailable, UnknownTool

#: tool name (as in the API document's enum) -> module defining ADAPTER
MODULES: dict[str, str] = {
    "k6": "runners.adapters.k6",
    "jmeter": "runners.adapters.jmeter",
    "locust": "runners.adapters.locust",
    "artillery": "runners.adapters.artillery",
    "gatling": "runners.adapters.gatling",
    "custom": "runners.adapters.custom",
}

TOOLS: tuple[str, ...] = tuple(MODULES)


class _Registry(dict):
    """REGISTRY[tool] -> the tool's Adapter, importing its module on first use."""

    def __missing__(self, tool: str) -> Adapter:
        if tool not in MODULES:
            raise KeyError(tool)
        try:
            adapter = importlib.import_module(MODULES[tool]).ADAPTER
        except (ImportError, AttributeError) as exc:
            raise AdapterUnavailable(f"adapter for {tool!r} cannot be loaded: {exc}") from exc
        self[tool] = adapter
        return adapter


REGISTRY: dict[str, Adapter] = _Registry()


def get_adapter(tool: str) -> Adapter:
    """Return the adapter of ``tool``.

    Raises UnknownTool if no such tool is registered, AdapterUnavailable if
    its module cannot be imported.
    """
    if tool not in MODULES:
        raise UnknownTool(tool, TOOLS)
    return REGISTRY[tool]
