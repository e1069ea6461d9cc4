"""Everything the agent reports about runs goes through the spool and one sender thread.

Executors append series, log and result posts to the spool (agents/spool.py)
and go on; the sender thread posts them strictly in spool order, so the
posts of one run arrive in the order they were made and its result last.
While the control plane is unreachable (connection errors, timeouts, 5xx,
408, 429) the sender retries the oldest post with exponential backoff
(``initial`` doubling up to ``max``, with jitter) and everything behind it
waits on disk: a restart of the control plane or a network cut loses
nothing, and an agent restart resumes from the spool. A permanent refusal
(any other 4xx) is logged with the server's message and dropped, since
sending it again can never succeed. Retried posts are safe: the control
plane stores series and log chunks idempotently by (run, seq) and answers
a repeated result with the stored status.

After an outage the backlog is sent in merged batches: consecutive series
(or log) posts of the same run become one post.

The claim is the one post that does not go through the spool: the executor
needs its answer (script, parameters) before it can start, and a claim
left on disk by a crashed agent would claim the run with a claim id that
its redelivered message no longer knows. It is retried in place instead,
with the same claim id, until it is answered.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from agents.client import ControlPlane, TransportError
from agents.spool import Entry, Spool

log = logging.getLogger(__name__)

MERGE_MAX_BYTES = 2 * 1024 * 1024
MERGE_MAX_ITEMS = 500  # the control plane takes at most 1000 points or chunks per post
JOIN_TIMEOUT_S = 12.0  # the sender is a daemon thread: an unfinished post stays spooled for the next start
MERGEABLE = {"series": "points", "logs": "chunks"}


class Backoff:
    """Exponential backoff with jitter: initial, 2x, 4x ... capped at ``maximum``."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0):
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next_delay(self, hint: float | None = None) -> float:
        delay = min(self.maximum, self.initial * (2 ** self.failures))
        self.failures += 1
        delay *= random.uniform(0.8, 1.0)
        return max(delay, min(hint or 0.0, self.maximum))

    def reset(self) -> None:
        self.failures = 0


class ClaimRefused(Exception):
    """The control plane will not give us this run (409 already claimed / finished, 404)."""


class Reporter:
    """Owns the spool's sender thread; see the module docstring."""

    def __init__(self, client: ControlPlane, spool: Spool, *,
                 on_cancel: Callable[[str], None] = lambda run_id: None,
                 initial_backoff_s: float = 0.5, max_backoff_s: float = 30.0):
        self.client = client
        self.spool = spool
        self.on_cancel = on_cancel
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.refused = 0
        self.last_error = ""

    # -- producing ---------------------------------------------------------------
    def series(self, run_id: str, points: list[dict]) -> bool:
        """Spool a batch of series points (SeriesPoint.to_dict()); False if the spool is full."""
        return self._append(run_id, "series", {"points": points})

    def logs(self, run_id: str, chunks: list[dict]) -> bool:
        """Spool numbered log chunks ({"seq", "text"}); False if the spool is full."""
        return self._append(run_id, "logs", {"chunks": chunks})

    def result(self, run_id: str, body: dict) -> None:
        """Spool the run's final report (RunReport.to_dict()); always written, whatever the bound."""
        self._append(run_id, "result", body, essential=True)

    def _append(self, run_id: str, kind: str, body: dict, essential: bool = False) -> bool:
        ok = self.spool.append(path=f"/runs/{run_id}/{kind}", run_id=run_id, kind=kind, body=body,
                               essential=essential)
        if not ok:
            log.error("spool full (%d bytes): dropped a %s post of run %s; the control plane has been "
                      "unreachable for a long time", self.spool.max_bytes, kind, run_id)
        return ok

    # -- claiming (direct, see the module docstring) ------------------------------
    def claim(self, run_id: str, claim_id: str, *, give_up: Callable[[], bool]) -> dict | None:
        """Claim the run; return the claim answer, or None if ``give_up()`` became true first.

        Raises ClaimRefused for 409 (another delivery claimed it, or it is
        already final) and 404, TransportError for other permanent errors.
        """
        backoff = Backoff(self._initial, self._max)
        while True:
            try:
                return self.client.post(f"/runs/{run_id}/claim", {"claim_id": claim_id})
            except TransportError as exc:
                if exc.status in (404, 409):
                    raise ClaimRefused(str(exc)) from None
                if exc.permanent:
                    raise
                delay = backoff.next_delay(exc.retry_after)
                log.warning("claim of run %s: %s; retrying in %.1fs", run_id, exc, delay)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if give_up():
                        return None
                    time.sleep(min(0.2, delay))

    # -- the sender thread ----------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="perfmon-reporter", daemon=True)
        self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything spooled so far was sent (or refused); True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.spool) == 0:
                return True
            time.sleep(0.05)
        return len(self.spool) == 0

    def stop(self, flush_timeout: float = 0.0) -> int:
        """Send what is spooled for up to ``flush_timeout`` s, then stop; returns the posts left.

        What is left stays on disk and is sent by the next start.
        """
        if flush_timeout > 0:
            self.wait_idle(flush_timeout)
        self._stop.set()
        with self.spool.available:
            self.spool.available.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)
        left = len(self.spool)
        if left:
            log.warning("%d posts are still spooled in %s; they are sent when the agent starts again",
                        left, self.spool.directory)
        return left

    def _run(self) -> None:
        backoff = Backoff(self._initial, self._max)
        while not self._stop.is_set():
            if not self.spool.wait(timeout=1.0):
                continue
            batch = self._batch()
            if not batch:
                continue
            try:
                answer = self.client.post(batch[0].path, self._merged_body(batch))
            except TransportError as exc:
                if exc.permanent:
                    self.refused += len(batch)
                    log.error("the control plane refused a %s post of run %s, dropping it: %s",
                              batch[0].kind, batch[0].run_id, exc)
                    self.spool.remove(batch)
                    continue
                delay = backoff.next_delay(exc.retry_after)
                if backoff.failures == 1 or delay >= self._max:
                    log.warning("control plane unreachable (%s); %d posts spooled, retrying in %.1fs",
                                exc, len(self.spool), delay)
                self.last_error = str(exc)
                self._stop.wait(delay)
                continue
            except Exception:  # a bug must not kill the only sender; keep the post, try again
                log.exception("unexpected error sending a %s post of run %s", batch[0].kind, batch[0].run_id)
                self._stop.wait(backoff.next_delay())
                continue
            if backoff.failures:
                log.info("control plane reachable again; sending the %d spooled posts", len(self.spool))
            backoff.reset()
            self.last_error = ""
            self.spool.remove(batch)
            self.sent += len(batch)
            self._answered(batch[0], answer)

    def _batch(self) -> list[Entry]:
        entries = self.spool.peek(64)
        if not entries:
            return []
        first = entries[0]
        batch = [first]
        if first.kind in MERGEABLE:
            size = first.size
            items = len(first.body.get(MERGEABLE[first.kind], []))
            for entry in entries[1:]:
                items += len(entry.body.get(MERGEABLE[first.kind], []))
                if entry.path != first.path or size + entry.size > MERGE_MAX_BYTES or items > MERGE_MAX_ITEMS:
                    break
                batch.append(entry)
                size += entry.size
        return batch

    @staticmethod
    def _merged_body(batch: list[Entry]) -> dict:
        if len(batch) == 1:
            return batch[0].body
        key = MERGEABLE[batch[0].kind]
        return {key: [item for entry in batch for item in entry.body.get(key, [])]}

    def _answered(self, entry: Entry, answer: dict) -> None:
        if entry.kind in MERGEABLE and answer.get("cancel"):
            self.on_cancel(entry.run_id)
        elif entry.kind == "result":
            log.info("run %s reported: the control plane judged it %s", entry.run_id,
                     answer.get("status", "?"))
