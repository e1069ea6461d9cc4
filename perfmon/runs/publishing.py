"""Sending run assignments to the agents' queues, many at once.

One Celery ``send_task`` costs a broker round trip and about half a
millisecond of routing and serialising; at ten thousand runs a minute that
alone made the tick late. Here the messages are serialised by Celery's own
protocol (``app.amqp.as_task_v2``) and kombu's producer, addressed straight
to the agent's queue (the anonymous exchange: the queue name is the routing
key, so no exchange lookup per message), and sent as one Redis pipeline per
``BATCH_COMMANDS`` messages through the producer's ``batch()`` (kombu 5.7's
publish batches). The message is the very one ``send_task`` sends: the agent
side (``agents/worker.py``) reads it unchanged.

A ``PublishBuffer`` may be filled before it is sent: the tick serialises the
messages of an instant that is still a few seconds away and sends them at
that instant, after its transaction commits. A buffer that is discarded (or
whose context exits with an exception) sends nothing. On a kombu without
publish batches the same calls publish one message at a time, at ``send``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from runners.protocol import EXECUTE_RUN, RunAssignment, agent_queue

log = logging.getLogger(__name__)

# Redis commands per pipeline round trip: large enough that a tick's batch is one or a few
# round trips, small enough that the pipeline's reply stays a few hundred kilobytes.
BATCH_COMMANDS = 2000
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


class PublishBuffer:
    """Assignments serialised now and sent with ``send()`` in pipelined batches.

    Use as a context manager; leaving it without ``send()`` (or with an
    exception) discards what was buffered. ``max_buffered`` bounds how many
    messages are held before ``send()``: past it, ``add`` raises OverflowError
    (a buffer meant to be sent at a later instant must never flush early).
    """

    def __init__(self, *, hold: bool = False, max_buffered: int = 1_000_000) -> None:
        from perfmon.celery import app

        self._app = app
        self._hold = hold
        self._max = max_buffered
        self._producer_cm = None
        self._producer = None
        self._batch = None
        self._pending: list[RunAssignment] = []  # kombu without batches: published at send()
        self.count = 0
        self.sent = False

    def __enter__(self) -> PublishBuffer:
        self._producer_cm = self._app.producer_or_acquire()
        self._producer = self._producer_cm.__enter__()
        batch = getattr(self._producer, "batch", None)
        if batch is not None:
            # Held buffers flush only at send(): one pipeline that may be larger than usual.
            size = self._max * 2 if self._hold else BATCH_COMMANDS
            self._batch = batch(max_size=size)
            self._batch.__enter__()
        return self

    def add(self, assignment: RunAssignment) -> None:
        """Serialise one assignment into the buffer (sent by ``send``)."""
        if self.count >= self._max:
            raise OverflowError(f"a publish buffer holds at most {self._max} messages")
        self.count += 1
        if self._batch is None:
            self._pending.append(assignment)
            return
        self._publish(assignment)

    def _publish(self, assignment: RunAssignment) -> None:
        message = self._app.amqp.as_task_v2(str(uuid.uuid4()), EXECUTE_RUN, args=[assignment.to_dict()])
        self._producer.publish(
            message.body, exchange="", routing_key=agent_queue(assignment.agent_id), headers=message.headers,
            serializer="json", retry=True, retry_policy=PUBLISH_RETRY_POLICY, **message.properties,
        )

    def send(self) -> None:
        """Send everything buffered. Raises the broker's error if the pipeline fails."""
        if self._batch is not None:
            batch, self._batch = self._batch, None
            batch.__exit__(None, None, None)
        else:
            for assignment in self._pending:
                self._publish(assignment)
            self._pending = []
        self.sent = True

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._batch is not None:
                # Not sent: discard what is buffered (kombu drops an aborted batch's messages).
                batch, self._batch = self._batch, None
                batch.__exit__(RuntimeError, RuntimeError("publish buffer discarded"), None)
        finally:
            self._producer_cm.__exit__(exc_type, exc, tb)


def publish_assignments(assignments: Iterable[RunAssignment]) -> int:
    """Publish the assignments now, pipelined; returns how many were sent (0 when the broker failed)."""
    assignments = list(assignments)
    if not assignments:
        return 0
    try:
        with PublishBuffer() as buffer:
            for assignment in assignments:
                buffer.add(assignment)
            buffer.send()
    except Exception as exc:  # the broker's many connection errors: the sweeper retries
        log.warning("publishing %d assignment(s) failed: %s", len(assignments), exc)
        return 0
    return len(assignments)
