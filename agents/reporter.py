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
a repeated result with the stored status. A result refused with 409
(``stale_claim``: the run ended without this report, e.g. its agent was
counted lost, or it is another claim's) is one of those permanent
refusals: dropped with a log line, never retried.

Streaming is batched: the sender waits ``flush_interval_s`` (2 s by
default) between rounds, and in a round every series post of a run that is
spooled becomes one post, and every log post of it another, so a run costs
the control plane one series post per interval however often the executor
spools (docs/agents.md, "Streaming"). A run's result is sent at once (with
what is spooled before it), and so is whatever waits when the reporter is
asked to flush. Posts are merged up to MERGE_MAX_ITEMS points (or chunks)
and MERGE_MAX_BYTES; a single spooled post larger than that is sent in
pieces, and it leaves the spool only once every piece was accepted. A
merge is only ever of posts to the same path, and never moves a post past
its run's result, so the result still comes last. After an outage the
backlog is drained the same way, MERGE_MAX_ITEMS at a time. A 413 (the
control plane takes smaller posts) halves the size of the posts sent from
then on instead of dropping what was refused.

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
# The control plane takes at most 5000 points and 1000 log chunks per post (earlier ones 1000 points).
MERGE_MAX_ITEMS = 1000
PEEK = 256  # the spooled posts one merge looks at
FLUSH_INTERVAL_S = 2.0
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
                 initial_backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 flush_interval_s: float = FLUSH_INTERVAL_S):
        self.client = client
        self.spool = spool
        self.on_cancel = on_cancel
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self.flush_interval_s = flush_interval_s
        self.max_items = MERGE_MAX_ITEMS
        self._flush = threading.Event()  # send what is spooled now, without waiting for the interval
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
        """Spool the run's final report (RunReport.to_dict()); always written, whatever the bound.

        It is sent at once, with everything spooled before it."""
        self._append(run_id, "result", body, essential=True)
        self.flush()

    def flush(self) -> None:
        """Send what is spooled now instead of at the end of the flush interval."""
        self._flush.set()
        with self.spool.available:
            self.spool.available.notify_all()

    def _append(self, run_id: str, kind: str, body: dict, essential: bool = False) -> bool:
        # Never raises: a full disk holds the post in memory; what is dropped (the spool logs it
        # once per episode) is counted in the run's report, so the control plane sees it is partial.
        return self.spool.append(path=f"/runs/{run_id}/{kind}", run_id=run_id, kind=kind, body=body,
                                 essential=essential)

    # -- claiming (direct, see the module docstring) ------------------------------
    def ready(self, run_id: str, *, give_up: Callable[[], bool]) -> dict | None:
        """Report a split run's part ready; return the start signal's document, or None on give-up.

        Direct, like the claim, and retried in place on transient errors. Raises
        ClaimRefused for 409 (the run ended or is being cancelled) and 404.
        """
        return self._direct(f"/runs/{run_id}/ready", {}, what=f"ready of part {run_id}", give_up=give_up)

    def claim(self, run_id: str, claim_id: str, *, give_up: Callable[[], bool]) -> dict | None:
        """Claim the run; return the claim answer, or None if ``give_up()`` became true first.

        Raises ClaimRefused for 409 (another delivery claimed it, or it is
        already final) and 404, TransportError for other permanent errors.
        """
        return self._direct(f"/runs/{run_id}/claim", {"claim_id": claim_id}, what=f"claim of run {run_id}",
                            give_up=give_up)

    def _direct(self, path: str, body: dict, *, what: str, give_up: Callable[[], bool]) -> dict | None:
        backoff = Backoff(self._initial, self._max)
        while True:
            try:
                return self.client.post(path, body)
            except TransportError as exc:
                if exc.status in (404, 409):
                    raise ClaimRefused(str(exc)) from None
                if exc.permanent:
                    raise
                delay = backoff.next_delay(exc.retry_after)
                log.warning("%s: %s; retrying in %.1fs", what, exc, delay)
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
            self.flush()
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

    def _wait_for_round(self, last_round: float) -> bool:
        """Wait until something is spooled and the flush interval since ``last_round`` has passed,
        or a flush is asked for; False when stopping."""
        if not self.spool.wait(timeout=1.0):
            return False
        due = last_round + self.flush_interval_s
        with self.spool.available:
            while not self._stop.is_set() and not self._flush.is_set():
                left = due - time.monotonic()
                if left <= 0:
                    break
                self.spool.available.wait(left)
        return not self._stop.is_set()

    def _run(self) -> None:
        backoff = Backoff(self._initial, self._max)
        last_round = float("-inf")  # what an earlier process left is sent at once
        while not self._stop.is_set():
            if not self._wait_for_round(last_round):
                continue
            self._flush.clear()
            last_round = time.monotonic()
            # One round: what was spooled when it began, one merged post per run and kind at a time
            # (while the control plane is away, the same post again after each backoff). What the
            # executors spool meanwhile waits for the next round, so a slow control plane still
            # gets one post per interval per run and kind, not one per spooled post.
            cutoff = self.spool.newest_seq()
            while not self._stop.is_set() and cutoff is not None:
                try:
                    batch = self._batch(cutoff)
                except Exception:  # reading the spool failed: the sender must not die, nor spin
                    log.exception("cannot read the spool %s", self.spool.directory)
                    self._stop.wait(backoff.next_delay())
                    break
                if not batch:
                    break
                if not self._send(batch, backoff):
                    # It waited out a backoff: what was spooled meanwhile joins the retry.
                    cutoff = self.spool.newest_seq()

    def _send(self, batch: list[Entry], backoff: Backoff) -> bool:
        """Post the batch; True when it left the spool (sent or refused) or is to be resent smaller,
        False when it stays spooled for a retry (after the backoff this waited)."""
        try:
            answer = self._post(batch)
        except TransportError as exc:
            if exc.status == 413 and self._items(batch) > 1:
                self.max_items = max(1, min(self.max_items, self._items(batch)) // 2)
                log.warning("the control plane refused a %s post of run %s as too large; sending at most %d "
                            "items a post from now on", batch[0].kind, batch[0].run_id, self.max_items)
                return True
            if exc.permanent:
                self.refused += len(batch)
                if batch[0].kind == "result" and exc.status == 409:
                    # stale_claim: the run was taken from this execution (its agent was counted lost, the
                    # run expired or was cancelled before the report) or judged from another claim's report.
                    log.warning("the control plane no longer takes the report of run %s, dropping it (the run "
                                "ended without it or belongs to another claim): %s", batch[0].run_id, exc)
                else:
                    log.error("the control plane refused a %s post of run %s, dropping it: %s",
                              batch[0].kind, batch[0].run_id, exc)
                self.spool.remove(batch)
                return True
            delay = backoff.next_delay(exc.retry_after)
            if backoff.failures == 1 or delay >= self._max:
                log.warning("control plane unreachable (%s); %d posts spooled, retrying in %.1fs",
                            exc, len(self.spool), delay)
            self.last_error = str(exc)
            self._stop.wait(delay)
            return False
        except Exception:  # a bug must not kill the only sender; keep the post, try again
            log.exception("unexpected error sending a %s post of run %s", batch[0].kind, batch[0].run_id)
            self._stop.wait(backoff.next_delay())
            return False
        if backoff.failures:
            log.info("control plane reachable again; sending the %d spooled posts", len(self.spool))
        backoff.reset()
        self.last_error = ""
        self.spool.remove(batch)
        self.sent += len(batch)
        self._answered(batch[0], answer)
        return True

    def _post(self, batch: list[Entry]) -> dict:
        """One post of the merged batch, or several when one spooled post alone is over the size."""
        first = batch[0]
        if first.kind not in MERGEABLE or self._items(batch) <= self.max_items:
            return self.client.post(first.path, self._merged_body(batch))
        key = MERGEABLE[first.kind]
        items = [item for entry in batch for item in entry.body.get(key, [])]
        cancel = False
        for start in range(0, len(items), self.max_items):
            answer = self.client.post(first.path, {key: items[start:start + self.max_items]})
            cancel = cancel or bool(answer.get("cancel"))
        return {"cancel": cancel}

    @staticmethod
    def _items(batch: list[Entry]) -> int:
        key = MERGEABLE.get(batch[0].kind)
        return sum(len(entry.body.get(key, [])) for entry in batch) if key else 1

    def _batch(self, cutoff: int | None = None) -> list[Entry]:
        """The oldest spooled post and the later ones it merges with (same run, same kind), among
        the posts up to seq ``cutoff`` (all when None); [] when the oldest is newer than that.

        Posts of other runs or kinds may be passed over (they do not depend on
        each other: the control plane orders points and chunks by seq); the
        run's own result is never passed, so it stays last.
        """
        entries = self.spool.peek(PEEK)
        if cutoff is not None:
            entries = [entry for entry in entries if entry.seq <= cutoff]
        if not entries:
            return []
        first = entries[0]
        batch = [first]
        if first.kind in MERGEABLE:
            key = MERGEABLE[first.kind]
            size = first.size
            items = len(first.body.get(key, []))
            for entry in entries[1:]:
                if entry.run_id == first.run_id and entry.kind == "result":
                    break
                if entry.path != first.path:
                    continue
                items += len(entry.body.get(key, []))
                if size + entry.size > MERGE_MAX_BYTES or items > self.max_items:
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
