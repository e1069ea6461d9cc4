"""The demo target `make up` starts: a tiny HTTP service on 127.0.0.1 to point tests at.

The tour (README.md, docs/getting-started.md) loads this service rather than
perfmon's own web process, so trying perfmon never competes with the control
plane it measures. Paths:

  /              200, a small JSON body
  /slow?ms=N     200 after N ms (0..5000)
  /status/CODE   that status (100..599 are accepted; anything else is 400)
  /flaky         every 10th request 500, else 200
  anything else  404

Standard library only; keep-alive (HTTP/1.1), no per-request logging.
usage: demo_target.py [--port PORT]   (default: $PERFMON_DEMO_TARGET_PORT or 8090)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_DELAY_MS = 5000
_requests = itertools.count(1)  # next() on a count is atomic under the GIL


def decide(path: str, query: dict[str, list[str]]) -> tuple[int, float]:
    """The status and delay (seconds) the target answers ``path`` with."""
    if path == "/":
        return 200, 0.0
    if path == "/slow":
        try:
            ms = int(query.get("ms", ["100"])[0])
        except ValueError:
            return 400, 0.0
        return 200, min(max(ms, 0), MAX_DELAY_MS) / 1000
    if path.startswith("/status/"):
        code = path.removeprefix("/status/")
        return (int(code), 0.0) if code.isdigit() and 100 <= int(code) <= 599 else (400, 0.0)
    if path == "/flaky":
        return (500 if next(_requests) % 10 == 0 else 200), 0.0
    return 404, 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    server_version = "perfmon-demo-target"

    def log_message(self, format, *args):  # noqa: A002 - a load test would flood the log
        pass

    def _respond(self) -> None:
        url = urlsplit(self.path)
        status, delay_s = decide(url.path, parse_qs(url.query))
        if delay_s:
            time.sleep(delay_s)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"path": url.path, "status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _respond


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A load tool stopping mid-request resets its connections: expected, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PERFMON_DEMO_TARGET_PORT", "8090")))
    args = parser.parse_args(argv)
    server = Server(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo target listening on http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
