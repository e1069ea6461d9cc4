"""Batched streaming: one post per flush interval per run and kind, whatever the executor spools;
points kept until accepted (a lost answer resends the same points); posts bounded in size."""

import threading
import time

import pytest

from agents.client import ControlPlane
from agents.reporter import MERGE_MAX_ITEMS, Reporter
from agents.spool import Spool
from tests.agents.plane import Plane

RUN = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"


class FlakyPlane(Plane):
    """Answers 503 to the first ``fail_first`` series posts *after* recording them (an answer lost on
    the way back), and 413 to any series post over ``limit`` points."""

    def __init__(self, *, fail_first: int = 0, limit: int | None = None):
        super().__init__()
        self.fail_first = fail_first
        self.limit = limit
        self.series_bodies: list[list[int]] = []

    def answer(self, path, body):
        if path.endswith("/series"):
            seqs = [p["seq"] for p in body.get("points", [])]
            if self.limit is not None and len(seqs) > self.limit:
                return 413, {"error": "payload_too_large", "message": f"at most {self.limit} points"}
            with self.lock:
                self.series_bodies.append(seqs)
                if self.fail_first > 0:
                    self.fail_first -= 1
                    return 503, {"error": "unavailable", "message": "answer lost"}
        return super().answer(path, body)


@pytest.fixture
def started():
    planes = []

    def start(plane):
        planes.append(plane.start())
        return plane

    yield start
    for plane in planes:
        plane.stop()


def reporter_for(plane, spool, **kwargs):
    kwargs.setdefault("initial_backoff_s", 0.05)
    kwargs.setdefault("max_backoff_s", 0.2)
    return Reporter(ControlPlane(plane.url, "pma_test_secret", timeout=5), spool, **kwargs)


def point(seq):
    return {"seq": seq}


def test_the_agent_posts_one_batch_per_interval_per_run(tmp_path, started):
    plane = started(Plane())
    spool = Spool(tmp_path / "spool", fsync=False)
    reporter = reporter_for(plane, spool, flush_interval_s=1.0)
    reporter.start()
    spooled = 0
    started_at = time.monotonic()
    # The executor spools every 0.1 s for two runs: 30 series posts and 30 log posts each.
    for seq in range(30):
        for run in (RUN, OTHER):
            reporter.series(run, [point(seq)])
            reporter.logs(run, [{"seq": seq, "text": f"{seq}\n"}])
            spooled += 2
        time.sleep(0.1)
    for run in (RUN, OTHER):
        reporter.result(run, {"outcome": "completed"})
    assert reporter.wait_idle(20)
    elapsed = time.monotonic() - started_at
    reporter.stop()
    rounds = int(elapsed / 1.0) + 2  # the intervals that passed, the first round and the result's
    for run in (RUN, OTHER):
        series = [body for path, body in plane.posts("series") if f"/runs/{run}/" in path]
        logs = [body for path, body in plane.posts("logs") if f"/runs/{run}/" in path]
        assert [p["seq"] for body in series for p in body["points"]] == list(range(30))
        assert [c["seq"] for body in logs for c in body["chunks"]] == list(range(30))
        assert len(series) <= rounds and len(logs) <= rounds, (len(series), len(logs), elapsed)
        assert max(len(body["points"]) for body in series) >= 5  # an interval's points travel together
    kinds = [path.rsplit("/", 2)[1:] for path, _ in plane.posts()]
    for run in (RUN, OTHER):  # each run's result after all of its points and chunks
        own = [kind for run_id, kind in kinds if run_id == run]
        assert own[-1] == "result" and own.count("result") == 1


def test_a_run_result_is_sent_without_waiting_for_the_interval(tmp_path, started):
    plane = started(Plane())
    spool = Spool(tmp_path / "spool", fsync=False)
    reporter = reporter_for(plane, spool, flush_interval_s=60.0)
    reporter.start()
    reporter.series(RUN, [point(0)])
    assert reporter.wait_idle(10)  # the first round starts at once
    reporter.series(RUN, [point(1)])
    time.sleep(0.5)
    assert len(plane.posts("series")) == 1, "the next point waits for the interval"
    reporter.result(RUN, {"outcome": "completed"})
    deadline = time.monotonic() + 10
    while not plane.posts("result") and time.monotonic() < deadline:
        time.sleep(0.02)
    reporter.stop()
    assert [path.rsplit("/", 1)[1] for path, _ in plane.posts()] == ["series", "series", "result"]


def test_a_batch_whose_answer_is_lost_stays_spooled_and_is_sent_again_whole(tmp_path, started):
    plane = started(FlakyPlane(fail_first=2))
    spool = Spool(tmp_path / "spool", fsync=False)
    reporter = reporter_for(plane, spool, flush_interval_s=0.5)
    for seq in range(10):
        reporter.series(RUN, [point(seq)])
    reporter.start()
    deadline = time.monotonic() + 10
    while len(plane.series_bodies) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reporter.wait_idle(10)
    reporter.stop()
    # The control plane saw the same batch three times; it stores by (run, seq), so once
    # (tests/perfmon/api/agent/test_series_batches.py). The spool let it go only after the 200.
    assert plane.series_bodies == [list(range(10))] * 3
    assert len(spool) == 0 and reporter.refused == 0


def test_a_spooled_post_larger_than_a_batch_is_sent_in_pieces(tmp_path, started):
    plane = started(Plane())
    spool = Spool(tmp_path / "spool", fsync=False)
    reporter = reporter_for(plane, spool)
    total = 2 * MERGE_MAX_ITEMS + 500
    reporter.series(RUN, [point(seq) for seq in range(total)])  # e.g. a tool that reports at its end
    reporter.start()
    assert reporter.wait_idle(20)
    reporter.stop()
    sizes = [len(body["points"]) for _, body in plane.posts("series")]
    assert sizes == [MERGE_MAX_ITEMS, MERGE_MAX_ITEMS, 500]
    assert [p["seq"] for _, body in plane.posts("series") for p in body["points"]] == list(range(total))


def test_a_413_makes_posts_smaller_instead_of_dropping_them(tmp_path, started):
    plane = started(FlakyPlane(limit=300))
    spool = Spool(tmp_path / "spool", fsync=False)
    reporter = reporter_for(plane, spool)
    for first in range(0, 1000, 100):
        reporter.series(RUN, [point(seq) for seq in range(first, first + 100)])
    reporter.start()
    assert reporter.wait_idle(20)
    reporter.stop()
    assert reporter.refused == 0 and reporter.max_items <= 300
    assert all(len(seqs) <= 300 for seqs in plane.series_bodies)
    assert [seq for seqs in plane.series_bodies for seq in seqs] == list(range(1000))


def test_stop_sends_what_waits_for_the_interval(tmp_path, started):
    plane = started(Plane())
    spool = Spool(tmp_path / "spool", fsync=False)
    reporter = reporter_for(plane, spool, flush_interval_s=60.0)
    reporter.start()
    reporter.series(RUN, [point(0)])
    assert reporter.wait_idle(10)
    threading.Event().wait(0.2)
    reporter.series(RUN, [point(1)])
    assert reporter.stop(flush_timeout=10) == 0
    assert [p["seq"] for _, body in plane.posts("series") for p in body["points"]] == [0, 1]
