"""Read what the control plane published, from the real broker (Redis on CI)."""

from __future__ import annotations

import queue as queue_module
import time

from runners.protocol import EXECUTE_RUN


def take_assignments(queue: str, *, limit: int = 50, wait: float = 0.0) -> list[dict]:
    """Consume up to ``limit`` execute_run messages already in ``queue`` (polling up to ``wait`` s
    for the first); returns their assignment payloads."""
    from perfmon.celery import app

    found = []
    deadline = time.monotonic() + wait
    with app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue, no_ack=True)
        try:
            while len(found) < limit:
                try:
                    message = simple.get_nowait()
                except queue_module.Empty:
                    if found or time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)
                    continue
                assert message.headers["task"] == EXECUTE_RUN
                args, _kwargs, _embed = message.decode()
                found.append(args[0])
        finally:
            simple.close()
    return found


def purge(*queues: str) -> None:
    from perfmon.celery import app

    with app.connection_for_write() as conn:
        for name in queues:
            simple = conn.SimpleQueue(name, no_ack=True)
            simple.clear()
            simple.close()
