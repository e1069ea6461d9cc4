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

# (method, path as in the schema) of the endpoints added beyond that document (docs/api.md, "added").
ADDED = [
    ("get", "/api/runs"),
    ("get", "/api/runs/compare"),
    ("get", "/api/runs/{runId}/parts"),
    ("get", "/api/runs/{runId}/series"),
    ("post", "/api/runs/{runId}/cancel"),
    ("get", "/api/runs/{runId}/requests"),
    ("get", "/api/runs/{runId}/errors"),
    ("get", "/api/runs/{runId}/checks"),
    ("get", "/api/runs/{runId}/histogram"),
]

ALL = DOCUMENTED + ADDED

# Query strings an endpoint needs to name an object ({runId} … filled in like the path).
QUERIES = {
    ("get", "/api/runs/compare"): "?ids={runId},{otherRunId}",
}


def fill(path: str, ids: dict, method: str = "get") -> str:
    return (path + QUERIES.get((method, path), "")).format(**ids)
