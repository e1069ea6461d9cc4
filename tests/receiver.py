"""A real HTTP receiver on 127.0.0.1 that records what it is sent (webhooks, Slack)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers 500 to the first ``fail_first`` requests, then 200."""

    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    status = 500 if len(receiver.answers) < receiver.fail_first else 200
                    receiver.answers.append(status)
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try again")

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def succeeded(self) -> list[Received]:
        return [r for r, status in zip(self.requests, self.answers, strict=True) if status == 200]
