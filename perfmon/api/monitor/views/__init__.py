"""Views of the perf-monitor surface (/api), one module per resource."""

from perfmon.api.monitor.views.base import ApiRoot, MonitorApiView

__all__ = ["ApiRoot", "MonitorApiView"]
