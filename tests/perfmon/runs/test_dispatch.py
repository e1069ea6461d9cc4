"""request_run: one run, the right agent's queue, targeting, capacity and the overlap rule."""

import os

import pytest

from perfmon.core.errors import Conflict
from perfmon.runs.models import Run, RunStatus, RunTrigger
from perfmon.runs.services import cancel_run, request_run
from runners.protocol import agent_queue
from tests.broker import purge, take_assignments
from tests.factories import make_agent, make_monitor, make_test


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    """request_run with its after-commit publish really executed."""

    def _dispatch(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return request_run(**kwargs)

    return _dispatch


@pytest.fixture(autouse=True)
def clean_queues():
    purge(*(agent_queue(name) for name in ("acme-1", "acme-2", "eu-1", "us-1", "shared-1", "pinned")))


def test_run_is_published_once_to_its_agents_queue(acme, dispatch):
    make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme)
    run = dispatch(tenant=acme, monitor=monitor, trigger=RunTrigger.MANUAL)
    assert (run.status, run.agent_id) == (RunStatus.QUEUED, "acme-1")
    assert run.published_at is None and Run.objects.for_tenant(acme).get().published_at is not None
    assignments = take_assignments(agent_queue("acme-1"))
    assert assignments == [
        {"run_id": str(run.pk), "agent_id": "acme-1", "tool": "k6", "time_limit_s": 1800, "version": 1}
    ]
    if os.environ.get("REDIS_URL"):
        import redis

        # Really in Redis: the queue list is empty again after we consumed it.
        assert redis.Redis.from_url(os.environ["REDIS_URL"]).llen(agent_queue("acme-1")) == 0


def test_run_snapshots_script_parameters_and_thresholds(acme, dispatch):
    make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme, parameters={"TARGET": "http://127.0.0.1"}, thresholds={"latencyMs": 300},
                           apdex_t_ms=250)
    run = dispatch(tenant=acme, monitor=monitor)
    monitor.test.script = "changed later"
    monitor.test.save()
    run.refresh_from_db()
    assert run.script == "export default function () {}"
    assert (run.parameters, run.thresholds, run.apdex_t_ms) == ({"TARGET": "http://127.0.0.1"}, {"latencyMs": 300}, 250)


def test_pinned_agent_wins_over_location_and_load(acme, dispatch):
    make_agent("eu-1", tenant=acme, location="eu")
    make_agent("pinned", tenant=acme, location="us")
    monitor = make_monitor(acme, location="eu", agent_id="pinned")
    assert dispatch(tenant=acme, monitor=monitor).agent_id == "pinned"


def test_location_targets_only_agents_there(acme, dispatch):
    make_agent("eu-1", tenant=acme, location="eu")
    make_agent("us-1", tenant=acme, location="us")
    monitor = make_monitor(acme, location="us")
    assert dispatch(tenant=acme, monitor=monitor).agent_id == "us-1"


def test_tenant_agents_before_shared_ones_and_never_another_tenants(acme, globex, dispatch):
    make_agent("shared-1")
    make_agent("globex-1", tenant=globex)
    first = dispatch(tenant=acme, monitor=make_monitor(acme))
    assert first.agent_id == "shared-1"  # acme has none of its own; globex's is not a candidate
    make_agent("acme-1", tenant=acme)
    assert dispatch(tenant=acme, monitor=make_monitor(acme)).agent_id == "acme-1"


def test_agent_must_have_the_tool(acme, dispatch):
    make_agent("acme-1", tenant=acme, tools=("k6",))
    run = dispatch(tenant=acme, monitor=make_monitor(acme, tool="jmeter"))
    assert run.status == RunStatus.ERROR and "jmeter" in run.error and run.completed_at


def test_offline_and_drained_agents_are_not_chosen(acme, dispatch):
    make_agent("acme-1", tenant=acme, online=False)
    run = dispatch(tenant=acme, monitor=make_monitor(acme))
    assert run.status == RunStatus.ERROR and "no online agent" in run.error
    make_agent("acme-2", tenant=acme, drained=True)
    run = dispatch(tenant=acme, monitor=make_monitor(acme))
    assert run.status == RunStatus.ERROR and "drained" in run.error
    assert take_assignments(agent_queue("acme-1")) == [] and take_assignments(agent_queue("acme-2")) == []


def test_least_busy_agent_with_free_capacity_first(acme, dispatch):
    make_agent("acme-1", tenant=acme, capacity=2)
    make_agent("acme-2", tenant=acme, capacity=1)
    chosen = [dispatch(tenant=acme, monitor=make_monitor(acme)).agent_id for _ in range(4)]
    # 0/2 vs 0/1 -> acme-1 (id order); 1/2 vs 0/1 -> acme-2; 1/2 vs 1/1 -> acme-1 (free slot);
    # both full -> the least busy queue (acme-2 with 1 run) takes it and it waits there.
    assert chosen == ["acme-1", "acme-2", "acme-1", "acme-2"]


def test_monitor_never_runs_twice_at_once(acme, dispatch):
    make_agent("acme-1", tenant=acme, capacity=5)
    monitor = make_monitor(acme)
    first = dispatch(tenant=acme, monitor=monitor)
    with pytest.raises(Conflict, match="already has a queued or running run"):
        dispatch(tenant=acme, monitor=monitor)
    Run.objects.for_tenant(acme).filter(pk=first.pk).update(status=RunStatus.RUNNING)
    with pytest.raises(Conflict):
        dispatch(tenant=acme, monitor=monitor)
    Run.objects.for_tenant(acme).filter(pk=first.pk).update(status=RunStatus.PASS)
    assert dispatch(tenant=acme, monitor=monitor).status == RunStatus.QUEUED
    assert len(take_assignments(agent_queue("acme-1"))) == 2


def test_standalone_test_run(acme, dispatch):
    make_agent("acme-1", tenant=acme, tools=("locust",))
    run = dispatch(tenant=acme, test=make_test(acme, tool="locust"), trigger=RunTrigger.API)
    assert (run.agent_id, run.tool, run.monitor) == ("acme-1", "locust", None)


def test_cancel_queued_run_ends_it_and_cancel_running_marks_it(acme, dispatch):
    make_agent("acme-1", tenant=acme, capacity=2)
    queued = dispatch(tenant=acme, monitor=make_monitor(acme))
    assert cancel_run(tenant=acme, run_id=queued.pk, actor="alice").status == RunStatus.CANCELLED
    with pytest.raises(Conflict):
        cancel_run(tenant=acme, run_id=queued.pk)
    running = dispatch(tenant=acme, monitor=make_monitor(acme))
    Run.objects.for_tenant(acme).filter(pk=running.pk).update(status=RunStatus.RUNNING, claimed_at=running.created_at)
    marked = cancel_run(tenant=acme, run_id=running.pk)
    assert marked.status == RunStatus.RUNNING and marked.cancel_requested_at is not None


def test_cancel_of_another_tenants_run_is_not_found(acme, globex, dispatch):
    from perfmon.core.errors import NotFound

    make_agent("acme-1", tenant=acme)
    run = dispatch(tenant=acme, monitor=make_monitor(acme))
    with pytest.raises(NotFound):
        cancel_run(tenant=globex, run_id=run.pk)
    with pytest.raises(NotFound):
        cancel_run(tenant=acme, run_id="not-a-uuid")
    assert Run.objects.for_tenant(acme).get().status == RunStatus.QUEUED


def test_run_without_agent_becomes_the_monitors_last_status(acme, dispatch):
    monitor = make_monitor(acme)
    run = dispatch(tenant=acme, monitor=monitor)
    monitor.refresh_from_db()
    assert run.status == RunStatus.ERROR
    assert (monitor.last_status, monitor.last_run_at) == ("error", run.completed_at)
