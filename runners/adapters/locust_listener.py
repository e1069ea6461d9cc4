"""perfmon listener for Locust, loaded beside the user's locustfile
(``locust -f locustfile.py,perfmon_locust_listener.py``).

Locust writes no per-request output (and its CSV stats are not flushed at
shutdown), so this module appends every request to the file named by the
PERFMON_RESULT_PATH environment variable as a perfmon result stream v1
(runners/stream.py): a header line, then one JSON line per request. The
file is line-buffered, so each record reaches the file when the request
ends and a killed Locust loses at most the line being written.

Self-contained on purpose: it runs inside Locust's interpreter, which need
not have perfmon installed. Defines no User class.
"""

import json
import logging
import os
import time

from locust import events

RESULT_PATH_ENV = "PERFMON_RESULT_PATH"
_log = logging.getLogger("perfmon.listener")
_state = {"file": None, "pid": None, "broken": False}


def _output():
    # opened lazily, once per process: forked workers (--processes) each append
    # their own lines; the reader accepts a repeated header
    if _state["broken"]:
        return None
    if _state["file"] is None or _state["pid"] != os.getpid():
        path = os.environ.get(RESULT_PATH_ENV)
        if not path:
            _log.error("%s is not set; perfmon cannot record requests", RESULT_PATH_ENV)
            _state["broken"] = True
            return None
        out = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives for the run
        if out.tell() == 0:
            out.write(json.dumps({"perfmon_stream": 1, "tool": "locust"}) + "\n")
        _state["file"], _state["pid"] = out, os.getpid()
    return _state["file"]


@events.request.add_listener
def _on_request(request_type="", name="", response_time=0, response_length=0, response=None,
                context=None, exception=None, start_time=None, url=None, **_kwargs):
    try:
        out = _output()
        if out is None:
            return
        ms = float(response_time or 0.0)
        status = getattr(response, "status_code", None)
        if not isinstance(status, int) or isinstance(status, bool):
            # non-HTTP clients report no status: 200 if it succeeded, 0 (no response) if not
            status = 0 if exception is not None else 200
        started = float(start_time) if start_time else time.time() - ms / 1000.0
        out.write(json.dumps({"t": started, "ms": ms, "status": status,
                              "ok": exception is None, "name": str(name or "")},
                             separators=(",", ":")) + "\n")
    except Exception:  # never break the user's test; say once why records are missing
        if not _state["broken"]:
            _log.exception("perfmon listener failed; requests are no longer recorded")
        _state["broken"] = True


@events.quitting.add_listener
def _on_quitting(**_kwargs):
    out = _state["file"]
    if out is not None and _state["pid"] == os.getpid():
        out.flush()
        out.close()
        _state["file"] = None
