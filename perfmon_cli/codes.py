"""The CLI's exit codes (docs/ci.md). Stable: pipelines branch on them."""

PASS = 0  # the run passed its thresholds (or a listing command succeeded)
FAIL = 1  # the run completed and breached a threshold
USAGE = 2  # bad arguments or configuration (PERFMON_URL / PERFMON_API_KEY missing), ambiguous name
ERROR = 3  # the run errored: the tool failed, no agent could take it, the agent was lost
CANCELLED = 4  # the run was cancelled (or skipped)
TIMEOUT = 5  # --timeout passed before the run ended (the run itself goes on on the server)
AUTH = 6  # the server refused the credentials (401) or the action (403, e.g. license limit)
NOT_FOUND = 7  # no monitor/test/run with that id or name
REJECTED = 8  # the server rejected the request (400, 409: e.g. the monitor already has an active run)
SERVER = 9  # the server could not be reached or failed (5xx)
INTERRUPTED = 130  # Ctrl-C

BY_STATUS = {"pass": PASS, "fail": FAIL, "error": ERROR, "cancelled": CANCELLED, "skipped": CANCELLED}
