"""One tenant's queries never return another's rows, and unscoped queries fail loudly."""

import pytest

from perfmon.core.errors import UnscopedQuery
from perfmon.definitions.models import TestDefinition
from perfmon.fleet.models import Agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunLogChunk


def make_monitor(tenant, name):
    test = TestDefinition.objects.create(tenant=tenant, name=name, tool="k6", script="export default () => {}")
    return Monitor.objects.create(tenant=tenant, name=name, test=test, schedule="* * * * *")


@pytest.fixture
def two_tenants_data(acme, globex):
    a = make_monitor(acme, "acme login")
    b = make_monitor(globex, "globex login")
    for monitor in (a, b):
        run = Run.objects.create(tenant=monitor.tenant, monitor=monitor, test=monitor.test, tool="k6")
        RunLogChunk.objects.create(run=run, seq=0, text=f"{monitor.name} output")
    return a, b


def test_scoped_queries_return_only_own_rows(acme, globex, two_tenants_data):
    a, b = two_tenants_data
    assert list(Monitor.objects.for_tenant(acme)) == [a]
    assert list(Monitor.objects.for_tenant(globex)) == [b]
    assert [r.monitor for r in Run.objects.for_tenant(acme)] == [a]
    assert [c.text for c in RunLogChunk.objects.for_tenant(globex)] == ["globex login output"]
    assert not Monitor.objects.for_tenant(acme).filter(pk=b.pk).exists()


@pytest.mark.parametrize(
    "evaluate",
    [list, len, bool, lambda qs: qs.count(), lambda qs: qs.exists(), lambda qs: qs.first(),
     lambda qs: qs.get(name="acme login"), lambda qs: list(qs.iterator()), lambda qs: qs.update(enabled=False),
     lambda qs: qs.delete(), lambda qs: list(qs.values_list("name", flat=True)), lambda qs: qs[0]],
)
def test_unscoped_evaluation_raises(two_tenants_data, evaluate):
    with pytest.raises(UnscopedQuery):
        evaluate(Monitor.objects.filter(name="acme login"))
    assert Monitor.all_tenants.count() == 2  # nothing was changed


def test_scoping_survives_chaining(acme, two_tenants_data):
    qs = Monitor.objects.for_tenant(acme).filter(enabled=True).order_by("name").select_related("test")
    assert [m.name for m in qs] == ["acme login"]


def test_for_tenant_none_is_refused(two_tenants_data):
    with pytest.raises(UnscopedQuery):
        Monitor.objects.for_tenant(None)


def test_shared_agents_are_visible_to_every_tenant_but_own_ones_only_to_theirs(acme, globex):
    Agent.objects.create(id="shared-1", location="eu")
    Agent.objects.create(id="acme-1", tenant=acme, location="eu")
    Agent.objects.create(id="globex-1", tenant=globex, location="eu")
    assert sorted(a.id for a in Agent.objects.for_tenant(acme)) == ["acme-1", "shared-1"]
    assert sorted(a.id for a in Agent.objects.for_tenant(globex)) == ["globex-1", "shared-1"]
    assert [a.id for a in Agent.objects.for_tenant(acme, include_shared=False)] == ["acme-1"]


def test_system_work_must_say_it_is_unscoped(two_tenants_data):
    assert Monitor.all_tenants.count() == 2
    # ... and all_tenants is the only way to say it
    assert not hasattr(Monitor.objects.all(), "unscoped")
