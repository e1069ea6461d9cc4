"""A local HTTP target for real-tool tests: 127.0.0.1 only, records what it served.

Paths:
  /ok           200
  /fail         500
  /mixed        every 10th request (by a shared counter) 500, else 200;
                each sleeps a seeded-random 0..20 ms
  /slow?ms=N    200 after N ms (N capped at 5000)
  anything else 404
Every response is recorded as (path, status) once its body has been written,
so tests can compare a tool's counts with what was really served.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Served:
    path: str
    status: int
    at: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the tools expect
    # headers and body go out in separate writes; without TCP_NODELAY the second
    # waits for a delayed ACK and every response takes ~40 ms
    disable_nagle_algorithm = True
    server: _TargetServer

    def log_message(self, format, *args):  # noqa: A002 - silence per-request stderr logging
        pass

    def _respond(self) -> None:
        url = urlsplit(self.path)
        status, delay_s = self.server.target.decide(url.path, parse_qs(url.query))
        if delay_s:
            time.sleep(delay_s)
        body = f'{{"path": "{url.path}", "status": {status}}}'.encode()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        self.server.target.record(url.path, status)

    do_GET = do_POST = do_PUT = do_HEAD = _respond


class _TargetServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    target: Target

    def handle_error(self, request, client_address):
        # a tool stopped mid-request resets its connections; that is expected here
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Target:
    """The running server. ``url(path)`` builds a URL; ``served()`` lists responses."""

    def __init__(self, seed: int = 1234):
        self._lock = threading.Lock()
        self._served: list[Served] = []
        self._mixed_counter = 0
        self._rng = random.Random(seed)
        self._server = _TargetServer(("127.0.0.1", 0), _Handler)
        self._server.target = self
        self.host, self.port = self._server.server_address[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> Target:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str = "/ok") -> str:
        return self.base_url + path

    def decide(self, path: str, query: dict[str, list[str]]) -> tuple[int, float]:
        if path == "/ok":
            return 200, 0.0
        if path == "/fail":
            return 500, 0.0
        if path == "/mixed":
            with self._lock:
                self._mixed_counter += 1
                n = self._mixed_counter
                delay = self._rng.uniform(0, 0.020)
            return (500 if n % 10 == 0 else 200), delay
        if path == "/slow":
            try:
                ms = float(query.get("ms", ["100"])[0])
            except ValueError:
                ms = 100.0
            return 200, min(max(ms, 0.0), 5000.0) / 1000.0
        return 404, 0.0

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self._served.append(Served(path, status, time.time()))

    def served(self) -> list[Served]:
        with self._lock:
            return list(self._served)

    def counts(self) -> dict[tuple[str, int], int]:
        """{(path, status): number served}."""
        out: dict[tuple[str, int], int] = {}
        for s in self.served():
            out[(s.path, s.status)] = out.get((s.path, s.status), 0) + 1
        return out

    def __enter__(self) -> Target:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
