"""A small recording HTTP server speaking the agent API's answers, for unit tests of
the spool and the reporter: it can answer 200, fail with 5xx/429/4xx, or be down.

The end-to-end tests (test_agent_e2e.py) use the real control plane instead.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        plane = self.server.plane
        status, answer = plane.answer(self.path, body)
        with plane.lock:
            plane.attempts.append(self.path)
            if status in (200, 201):
                plane.received.append((self.path, body, self.headers.get("Authorization", "")))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Plane:
    """``status`` decides every answer (200, 503, 429, 400...); ``cancel`` lists runs to cancel;
    ``claims`` maps a run id to its claim answer (other claims get a stream answer)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict, str]] = []
        self.attempts: list[str] = []
        self.status = 200
        self.cancel: set[str] = set()
        self.claims: dict[str, dict] = {}
        self._server: _Server | None = None

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if self.status != 200:
            return self.status, {"error": "unavailable" if self.status >= 500 else "bad_request",
                                 "message": f"status {self.status}"}
        run_id = path.split("/")[4] if path.count("/") >= 5 else ""
        if path.endswith("/enroll"):
            if body.get("token") != "pme_good":
                return 401, {"error": "not_authenticated", "message": "Invalid enrollment token"}
            agent_id = body.get("agent_id") or "eu-west-1"
            return 201, {"agent_id": agent_id, "credential": "pma_abc_s3cret", "broker_url": "redis://127.0.0.1:6379/0",
                         "broker_transport_options": {"visibility_timeout": 3600}, "heartbeat_interval_s": 2,
                         "queue": f"agent.{agent_id}"}
        if path.endswith("/claim") and run_id in self.claims:
            return 200, self.claims[run_id]
        if path.endswith("/result"):
            return 200, {"status": "pass"}
        if path.endswith("/heartbeat"):
            return 200, {"cancel": sorted(self.cancel), "heartbeat_interval_s": 5}
        return 200, {"accepted": len(body.get("points") or body.get("chunks") or []),
                     "cancel": run_id in self.cancel}

    def start(self) -> Plane:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.plane = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def posts(self, kind: str | None = None) -> list[tuple[str, dict]]:
        with self.lock:
            return [(path, body) for path, body, _ in self.received if kind is None or path.endswith("/" + kind)]
