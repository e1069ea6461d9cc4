"""Pure-Python runners: tool adapters and the common result model (no Django, no processes)."""

from runners.adapters import TOOLS, get_adapter
from runners.builder import ResultBuilder
from runners.records import RequestRecord
from runners.result import Result, SeriesPoint

__all__ = ["TOOLS", "RequestRecord", "Result", "ResultBuilder", "SeriesPoint", "get_adapter"]
