"""A stop signal that reaches `celery beat` while it waits on the broker still stops it."""

import signal
import time

import pytest
import redis
from django.conf import settings

from tests.integration.processes import Process, celery, process_env

PAUSE_MS = 8000


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_beat_stops_on_sigterm_in_the_middle_of_a_publish(tmp_path):
    env = process_env(PERFMON_TICK_INTERVAL="1")
    beat = Process(
        "beat", celery("beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")), env, tmp_path
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        # Once beat has published, its broker connection is open and cached.
        beat.wait_for_output("Sending due task", timeout=60)
        sent = beat.output().count("Sending due task")
        # Write commands now block in the server: beat's next publish waits
        # inside redis-py's socket read, and SIGTERM lands there.
        broker.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
        deadline = time.monotonic() + 10
        while beat.output().count("Sending due task") == sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert beat.output().count("Sending due task") > sent, beat.output()[-2000:]
        time.sleep(0.5)
        beat.proc.send_signal(signal.SIGTERM)
        # Stopped within the pause plus a generous margin, on its own.
        code = beat.proc.wait(timeout=PAUSE_MS / 1000 + 30)
    finally:
        broker.execute_command("CLIENT", "UNPAUSE")
        beat.stop(signal.SIGKILL)
    output = beat.output()
    assert code == 0, output[-3000:]
    assert "closed file" not in output, output[-3000:]
