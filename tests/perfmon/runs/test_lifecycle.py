"""A run's lifecycle: every allowed transition happens once, every other one is refused, and no
module but perfmon/runs/lifecycle.py writes a run's status."""

import ast
import re
import uuid
from pathlib import Path

import pytest

from perfmon.monitors.models import Monitor
from perfmon.runs import lifecycle
from perfmon.runs.lifecycle import InvalidTransition
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_agent, make_monitor

ROOT = Path(__file__).resolve().parents[3]
PERFMON = ROOT / "perfmon"
LIFECYCLE = PERFMON / "runs" / "lifecycle.py"

# --- nothing but the lifecycle writes a run's status -----------------------------------------

# Calls that write the fields named in their keywords (filter() and friends only read them).
_KEYWORD_WRITERS = {"update", "create", "get_or_create", "update_or_create", "Run"}
# Calls that write the fields they list (``update_fields=[…]``, ``bulk_update(objs, […])``).
_LISTED_WRITERS = {"save", "bulk_update", "bulk_create"}
# Other apps have a ``status`` too (notifications, test definitions): a write is a run's when the
# object written, the call chain or the value assigned speaks of runs.
_ABOUT_RUNS = re.compile(r"\bRun\b|RunStatus|\bruns?\b|\b\w*_runs?\b|\bruns?_\w*")


def _about_runs(*nodes) -> bool:
    return any(node is not None and _ABOUT_RUNS.search(ast.unparse(node)) for node in nodes)


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _lists_status(node) -> bool:
    return isinstance(node, ast.List | ast.Tuple | ast.Set) and any(
        isinstance(element, ast.Constant) and element.value == "status" for element in node.elts
    )


def status_writes(source: str) -> list[int]:
    """The lines of ``source`` that write a run's ``status``: assignments to ``….status``, ``status=``
    in the keywords of a writing call, ``"status"`` in its list of fields, ``setattr(…, "status", …)``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple | ast.List) else [target]:
                    if isinstance(element, ast.Attribute) and element.attr == "status" and _about_runs(
                        element.value, node.value
                    ):
                        lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            name = _callee(node)
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            if name in _KEYWORD_WRITERS and "status" in keywords and _about_runs(node.func, keywords["status"]):
                lines.append(node.lineno)
            listed = [keywords.get("update_fields"), keywords.get("fields"), *node.args[1:2]]
            if name in _LISTED_WRITERS and any(_lists_status(item) for item in listed) and _about_runs(node.func):
                lines.append(node.lineno)
            if (name == "setattr" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                    and node.args[1].value == "status" and _about_runs(node.args[0])):
                lines.append(node.lineno)
    return sorted(set(lines))


def modules_writing_status(root: Path) -> dict[str, list[int]]:
    """Every module under ``root``/perfmon (migrations aside) that writes a run's status, with its lines."""
    found = {}
    for path in sorted((root / "perfmon").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = status_writes(path.read_text())
        if lines:
            found[str(path.relative_to(root))] = lines
    return found


@pytest.mark.parametrize("snippet", [
    # The shapes status writes take: each must be seen.
    "run.status, run.error, run.completed_at = RunStatus.ERROR, reason, now",
    "run.status = RunStatus.SKIPPED",
    "Run.all_tenants.filter(pk=run.pk, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)",
    "unclaimed = Run.objects.for_tenant(t).filter(pk=pk)\nunclaimed.update(status=RunStatus.CANCELLED)",
    "Run(tenant=t, monitor=m, status=RunStatus.SKIPPED, completed_at=now)",
    "Run.all_tenants.create(tenant=t, status='pass')",
    "run.save(update_fields=['status', 'updated_at'])",
    "Run.all_tenants.bulk_update(runs, ['status'])",
    "setattr(run, 'status', 'error')",
])
def test_the_scan_sees_every_shape_of_a_status_write(snippet):
    assert status_writes(snippet) != []


@pytest.mark.parametrize("snippet", [
    "Run.all_tenants.filter(status=RunStatus.QUEUED).values_list('pk')",  # a read
    "notification.status = DeliveryStatus.FAILED",  # another model's status
    "notification.save(update_fields=['attempts', 'status'])",
    "TestDefinition.all_tenants.create(tenant=t, name=n, status='active')",
    "Monitor.all_tenants.filter(pk=pk).update(last_status=run.status)",
    "if run.status == RunStatus.PASS: pass",
])
def test_the_scan_leaves_reads_and_other_models_alone(snippet):
    assert status_writes(snippet) == []


def test_only_the_lifecycle_writes_a_runs_status():
    writers = modules_writing_status(ROOT)
    assert set(writers) == {str(LIFECYCLE.relative_to(ROOT))}, writers


# --- the transitions ---------------------------------------------------------------------------

def test_the_final_states_are_exactly_those_without_a_way_out():
    assert set(RunStatus.values) - set(lifecycle.TRANSITIONS) == set(lifecycle.FINAL) == set(RunStatus.final())
    assert all(targets <= set(RunStatus.values) for targets in lifecycle.TRANSITIONS.values())
    assert lifecycle.CREATED_FINAL <= lifecycle.FINAL and lifecycle.JUDGED <= lifecycle.FINAL


@pytest.fixture
def ended():
    """The runs announced by ``run_ended``, in order."""
    seen = []

    def receiver(sender, run, **kwargs):
        seen.append((run.pk, run.status))

    lifecycle.run_ended.connect(receiver, weak=False, dispatch_uid="test-lifecycle")
    yield seen
    lifecycle.run_ended.disconnect(dispatch_uid="test-lifecycle")


def stored(tenant, status, *, agent=None, monitor=None, **fields) -> Run:
    """A run row in ``status`` (written directly: the state a test starts from)."""
    return Run.all_tenants.create(tenant=tenant, monitor=monitor, tool="k6", status=status, agent=agent, **fields)


def status_of(run) -> str:
    return Run.all_tenants.values_list("status", flat=True).get(pk=run.pk)


@pytest.mark.parametrize("target", RunStatus.values)
@pytest.mark.parametrize("source", RunStatus.values)
def test_every_transition_is_allowed_or_refused_by_the_table(acme, ended, source, target):
    run = stored(acme, source)
    allowed = target in lifecycle.TRANSITIONS.get(source, ())
    if not lifecycle.sources(target):
        with pytest.raises(InvalidTransition):
            lifecycle.move(run, target)
        assert status_of(run) == source and ended == []
        return
    assert lifecycle.move(run, target) is allowed
    assert status_of(run) == (target if allowed else source)
    assert run.status == status_of(run)  # the instance is reloaded after a move
    if allowed and target in lifecycle.FINAL:
        assert ended == [(run.pk, target)] and run.completed_at is not None
    else:
        assert ended == []


def test_a_second_mover_with_a_stale_copy_loses(acme, ended):
    agent = make_agent("acme-1", tenant=acme)
    run = stored(acme, RunStatus.QUEUED, agent=agent)
    stale = Run.all_tenants.get(pk=run.pk)
    assert lifecycle.cancel_unclaimed(run, reason="cancelled by alice before it started")
    assert stale.status == RunStatus.QUEUED  # the copy still says queued; the row does not
    assert lifecycle.claim(stale, agent=agent, claim_id=uuid.uuid4()) is False
    assert lifecycle.fail_active(stale, error="expired") is False
    assert status_of(run) == RunStatus.CANCELLED and ended == [(run.pk, RunStatus.CANCELLED)]
    assert Run.all_tenants.get(pk=run.pk).error == ""


def test_claim_is_for_the_runs_own_agent_and_only_while_queued(acme, ended):
    agent, other = make_agent("acme-1", tenant=acme), make_agent("acme-2", tenant=acme)
    run = stored(acme, RunStatus.QUEUED, agent=agent)
    assert lifecycle.claim(run, agent=other, claim_id=uuid.uuid4()) is False
    claim_id = uuid.uuid4()
    assert lifecycle.claim(run, agent=agent, claim_id=claim_id) is True
    assert (run.status, run.claim_id) == (RunStatus.RUNNING, claim_id)
    assert run.claimed_at is not None and run.started_at == run.claimed_at and run.completed_at is None
    assert lifecycle.claim(run, agent=agent, claim_id=uuid.uuid4()) is False  # a redelivered message
    assert Run.all_tenants.get(pk=run.pk).claim_id == claim_id and ended == []


def test_cancel_before_start_refuses_a_claimed_run(acme, ended):
    agent = make_agent("acme-1", tenant=acme)
    run = stored(acme, RunStatus.QUEUED, agent=agent)
    lifecycle.claim(run, agent=agent, claim_id=uuid.uuid4())
    assert lifecycle.cancel_unclaimed(run, reason="cancelled by alice before it started") is False
    assert status_of(run) == RunStatus.RUNNING and ended == []
    with pytest.raises(InvalidTransition):
        lifecycle.move(run, RunStatus.CANCELLED, only_from={RunStatus.PASS})


def test_judging_needs_a_running_run_and_stores_the_verdict_with_it(acme, ended):
    agent = make_agent("acme-1", tenant=acme)
    monitor = make_monitor(acme)
    run = stored(acme, RunStatus.QUEUED, agent=agent, monitor=monitor)
    assert lifecycle.judge(run, RunStatus.PASS, metrics={"count": 3}) is False  # never claimed
    assert status_of(run) == RunStatus.QUEUED
    lifecycle.claim(run, agent=agent, claim_id=uuid.uuid4())
    breaches = [{"metric": "latencyMs", "threshold": 100, "actual": 140}]
    assert lifecycle.judge(run, RunStatus.FAIL, metrics={"count": 3}, breaches=breaches) is True
    row = Run.all_tenants.get(pk=run.pk)
    assert (row.status, row.metrics, row.breaches) == (RunStatus.FAIL, {"count": 3}, breaches)
    assert ended == [(run.pk, RunStatus.FAIL)]
    monitor.refresh_from_db()
    assert (monitor.last_status, monitor.last_run_at) == (RunStatus.FAIL, row.completed_at)
    assert lifecycle.judge(run, RunStatus.PASS) is False and status_of(run) == RunStatus.FAIL
    assert len(ended) == 1  # announced once


def test_a_cancelled_run_says_nothing_of_its_monitor(acme, ended):
    monitor = make_monitor(acme)
    run = stored(acme, RunStatus.QUEUED, monitor=monitor)
    assert lifecycle.cancel_unclaimed(run, reason="cancelled by alice before it started")
    assert ended == [(run.pk, RunStatus.CANCELLED)]
    assert Monitor.all_tenants.get(pk=monitor.pk).last_status == ""


def test_ending_an_active_run_in_error_keeps_a_final_one_as_it_is(acme, ended):
    finished = stored(acme, RunStatus.PASS, error="")
    assert lifecycle.fail_active(finished, error="agent lost") is False
    assert Run.all_tenants.get(pk=finished.pk).error == "" and ended == []
    running = stored(acme, RunStatus.RUNNING)
    assert lifecycle.fail_active(running, error="agent lost") is True
    assert (running.status, running.error) == (RunStatus.ERROR, "agent lost") and ended == [(running.pk, "error")]


@pytest.mark.parametrize("status", sorted(lifecycle.CREATED_FINAL))
def test_a_new_run_may_be_created_skipped_or_in_error(acme, status):
    agent = make_agent("acme-1", tenant=acme)
    run = lifecycle.created_final(Run(tenant=acme, tool="k6", agent=agent), status, reason="why")
    assert run._state.adding and run.status == status and run.completed_at is not None
    if status == RunStatus.SKIPPED:
        assert (run.status_reason, run.error, run.agent) == ("why", "", None)
    else:
        assert (run.status_reason, run.error, run.agent) == ("", "why", agent)


def test_only_a_new_queued_run_is_created_final(acme):
    with pytest.raises(InvalidTransition):
        lifecycle.created_final(Run(tenant=acme, tool="k6"), RunStatus.PASS, reason="judged by whom?")
    with pytest.raises(InvalidTransition):
        lifecycle.created_final(stored(acme, RunStatus.QUEUED), RunStatus.SKIPPED, reason="already stored")
    with pytest.raises(InvalidTransition):
        lifecycle.created_final(Run(tenant=acme, tool="k6", status=RunStatus.RUNNING), RunStatus.ERROR, reason="?")
