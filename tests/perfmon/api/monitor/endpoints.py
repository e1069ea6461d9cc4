"""Every documented endpoint of /api, with path parameters to fill in."""

# (method, path as documented) from the perf-monitor API document.
DOCUMENTED = [
    ("get", "/api/monitors"),
    ("post", "/api/monitors"),
    ("get", "/api/monitors/{monitorId}"),
    ("patch", "/api/monitors/{monitorId}"),
    ("delete", "/api/monitors/{monitorId}"),
    ("post", "/api/monitors/{monitorId}/run"),
    ("get", "/api/monitors/{monitorId}/runs"),
    ("get", "/api/runs/{runId}"),
    ("get", "/api/runs/{runId}/logs"),
    ("get", "/api/alerts"),
    ("post", "/api/alerts/{alertId}/acknowledge"),
    ("get", "/api/agents"),
    ("get", "/api/agents/{agentId}/metrics"),
    ("get", "/api/settings/license"),
    ("post", "/api/settings/license"),
]


def fill(path: str, ids: dict) -> str:
    return path.format(**ids)
