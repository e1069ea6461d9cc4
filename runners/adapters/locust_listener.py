"""perfmon listener for Locust, loaded beside the user's locustfile
(``locust -f locustfile.py,perfmon_locust_listener.py``).

Locust writes no per-request output (and its CSV stats are not flushed at
shutdown), so this module appends every request to the file named by the
PERFMON_RESULT_PATH environment variable as a perfmon result stream v1
(runners/stream.py): a header line, then one JSON line per request. The
file is line-buffered, so each record reaches the file when the request
ends and a killed Locust loses at most the line being written.

Each line names the request as Locust does (``name``), gives its
``request_type`` as ``method`` (GET, POST, ..., or what a custom client
reports) and, for a failed request, the failure as Locust's own failure
statistics name it (``error``: the exception's repr, memory addresses
masked, e.g. ``CatchResponseError('no token')`` for a script's
``response.failure("no token")``).

The load level: about once a second while the test runs, and once when
spawning completes, the process that runs the test (not a worker of
``--processes``, whose count is only its own) writes Locust's count of
active users, ``environment.runner.user_count``, as a load line
``{"perfmon_stream": 1, "vus": 3, "t": 1700000000.5}`` (``t``: epoch
seconds of the sample). It is shaped as a repeated header, which every
reader of the stream accepts and skips, so only perfmon's Locust reader
(runners/adapters/locust.py) takes the count from it.

Self-contained on purpose: it runs inside Locust's interpreter, which need
not have perfmon installed. Defines no User class.
"""

import json
import logging
import os
import time

import gevent
from locust import events
from locust.runners import WorkerRunner

try:  # the failure text of Locust's own statistics (and web UI), so the causes match it
    from locust.stats import StatsError

    _failure_text = StatsError.parse_error
except (ImportError, AttributeError):  # pragma: no cover - another Locust layout
    _failure_text = repr

RESULT_PATH_ENV = "PERFMON_RESULT_PATH"
_log = logging.getLogger("perfmon.listener")
USERS_EVERY_S = 1.0
_state = {"file": None, "pid": None, "broken": False, "sampler": None}


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
        record = {"t": started, "ms": ms, "status": status, "ok": exception is None,
                  "name": str(name or ""), "method": str(request_type or "")}
        if exception is not None:
            record["error"] = _failure_text(exception)
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
    except Exception:  # never break the user's test; say once why records are missing
        if not _state["broken"]:
            _log.exception("perfmon listener failed; requests are no longer recorded")
        _state["broken"] = True


def _write_users(count):
    try:
        out = _output()
        if out is not None:
            out.write(json.dumps({"perfmon_stream": 1, "vus": int(count), "t": time.time()},
                                 separators=(",", ":")) + "\n")
    except Exception:  # the load level is a nicety: never break the test for it
        _log.exception("perfmon listener could not record the user count")


def _sample_users(runner):
    while True:
        _write_users(runner.user_count)
        gevent.sleep(USERS_EVERY_S)


def _counts_users(environment) -> bool:
    # a worker knows only its own users; the master (or the local runner) knows them all
    runner = getattr(environment, "runner", None)
    return runner is not None and not isinstance(runner, WorkerRunner)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if _counts_users(environment) and _state["sampler"] is None:
        _state["sampler"] = gevent.spawn(_sample_users, environment.runner)


@events.spawning_complete.add_listener
def _on_spawning_complete(user_count=None, **_kwargs):
    # only where the sampler runs (not in a worker); the full count now, not up to 1 s later
    if _state["sampler"] is not None and user_count is not None:
        _write_users(user_count)


def _stop_sampler():
    sampler, _state["sampler"] = _state["sampler"], None
    if sampler is not None:
        sampler.kill(block=False)


@events.quitting.add_listener
def _on_quitting(**_kwargs):
    _stop_sampler()
    out = _state["file"]
    if out is not None and _state["pid"] == os.getpid():
        out.flush()
        out.close()
        _state["file"] = None
