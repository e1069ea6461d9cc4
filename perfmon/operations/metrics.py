"""What /metrics exposes, computed from the database (and the broker) at scrape time.

Nothing is counted in process memory, so any number of web processes answer
the same figures. A computed scrape is kept in the Django cache (Redis when
REDIS_URL is set, shared by all processes) for PERFMON_METRICS_CACHE_SECONDS,
so scraping from several Prometheus replicas costs one computation.
The number of queries is fixed (it does not grow with tenants, monitors or agents).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import CollectorRegistry

from perfmon.fleet.models import Agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from perfmon.tenants.models import Tenant
from runners.protocol import CONTROL_QUEUE, agent_queue

log = logging.getLogger(__name__)

# Run duration buckets (seconds): a few seconds of smoke test up to an hour-long soak.
DURATION_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
# kombu's Redis transport keeps priorities 3, 6 and 9 in sibling lists "<queue>\x06\x16<priority>".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITIES = (3, 6, 9)


def _runs_total(slugs: dict) -> CounterMetricFamily:
    family = CounterMetricFamily("perfmon_runs", "Runs kept in the database, by tenant and status "
                                 "(retention deletes old runs, which Prometheus sees as a counter reset).",
                                 labels=["tenant", "status"])
    rows = Run.all_tenants.order_by().values("tenant_id", "status").annotate(n=Count("pk"))
    for row in rows:
        family.add_metric([slugs.get(row["tenant_id"], str(row["tenant_id"])), row["status"]], row["n"])
    return family


def _durations() -> HistogramMetricFamily:
    duration = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    ended = Run.all_tenants.order_by().filter(
        status__in=RunStatus.final(), started_at__isnull=False, completed_at__isnull=False,
    ).annotate(duration=duration)
    aggregates = {f"le_{b}": Count("pk", filter=Q(duration__lte=timedelta(seconds=b))) for b in DURATION_BUCKETS}
    figures = ended.aggregate(total=Count("pk"), seconds=Sum("duration"), **aggregates)
    total_seconds = figures["seconds"].total_seconds() if figures["seconds"] else 0.0
    buckets = [(str(float(b)), figures[f"le_{b}"]) for b in DURATION_BUCKETS] + [("+Inf", figures["total"])]
    family = HistogramMetricFamily("perfmon_run_duration_seconds",
                                   "Wall-clock time from start to end of the runs kept, in seconds.")
    family.add_metric([], buckets, total_seconds)
    return family


def _last_p95(slugs: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily("perfmon_monitor_last_p95_ms",
                               "p95 latency (ms) of each monitor's latest judged run (pass or fail).",
                               labels=["tenant", "monitor_id", "monitor"])
    latest = Run.all_tenants.filter(
        monitor=OuterRef("pk"), status__in=[RunStatus.PASS, RunStatus.FAIL],
    ).order_by("-created_at")  # served by the (monitor, -created_at) index
    monitors = Monitor.all_tenants.order_by().annotate(
        last_p95=Subquery(latest.annotate(p95=Cast(KT("metrics__p95_ms"), FloatField())).values("p95")[:1]),
    ).values("pk", "tenant_id", "name", "last_p95")
    for row in monitors:
        if row["last_p95"] is None:
            continue
        family.add_metric([slugs.get(row["tenant_id"], ""), str(row["pk"]), row["name"]], float(row["last_p95"]))
    return family


def _agents(now) -> list:
    horizon = now - timedelta(seconds=settings.PERFMON_AGENT_OFFLINE_AFTER)
    figures = Agent.all_tenants.order_by().aggregate(
        total=Count("pk"), online=Count("pk", filter=Q(last_heartbeat_at__gte=horizon)),
    )
    online = GaugeMetricFamily("perfmon_agents_online", "Agents whose last heartbeat is within "
                               "PERFMON_AGENT_OFFLINE_AFTER seconds.", value=figures["online"])
    total = GaugeMetricFamily("perfmon_agents", "Agents registered (online or not).", value=figures["total"])
    return [online, total]


def _lags(now) -> list:
    due = Monitor.all_tenants.order_by().filter(enabled=True, next_run_at__lte=now).aggregate(
        oldest=Min("next_run_at"), count=Count("pk"))
    lag = (now - due["oldest"]).total_seconds() if due["oldest"] else 0.0
    queued = Run.all_tenants.order_by().filter(status=RunStatus.QUEUED).aggregate(
        oldest=Min("created_at"), count=Count("pk"))
    return [
        GaugeMetricFamily("perfmon_dispatch_lag_seconds", "How late the scheduler is: seconds since the "
                          "earliest due time of enabled monitors not yet dispatched (0 when none is due).",
                          value=max(lag, 0.0)),
        GaugeMetricFamily("perfmon_monitors_due", "Enabled monitors whose next run time has passed.",
                          value=due["count"]),
        GaugeMetricFamily("perfmon_runs_queued", "Runs waiting for an agent to claim them.", value=queued["count"]),
        GaugeMetricFamily("perfmon_oldest_queued_run_seconds", "Age of the oldest queued run (0 when none).",
                          value=(now - queued["oldest"]).total_seconds() if queued["oldest"] else 0.0),
    ]


def _queue_depths(agent_ids: list[str]) -> GaugeMetricFamily | None:
    """LLEN of the control queue and of every agent's queue, when the broker is Redis."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    family = GaugeMetricFamily("perfmon_queue_depth", "Messages waiting in a broker queue (Redis LLEN).",
                               labels=["queue"])
    queues = [CONTROL_QUEUE] + [agent_queue(agent_id) for agent_id in agent_ids]
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(queue)
                for priority in _PRIORITIES:
                    pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{priority}")
            lengths = pipe.execute()
        client.close()
    except redis.RedisError as exc:
        log.warning("metrics: cannot read queue depths from the broker: %s", exc)
        return family
    step = 1 + len(_PRIORITIES)
    for index, queue in enumerate(queues):
        family.add_metric([queue], sum(lengths[index * step:(index + 1) * step]))
    return family


class DatabaseCollector:
    """A prometheus_client collector whose every sample comes from the database at collect time."""

    def collect(self):
        now = timezone.now()
        slugs = dict(Tenant.objects.values_list("pk", "slug"))
        yield _runs_total(slugs)
        yield _durations()
        yield _last_p95(slugs)
        yield from _agents(now)
        yield from _lags(now)
        depths = _queue_depths(list(Agent.all_tenants.order_by("pk").values_list("pk", flat=True)))
        if depths is not None:
            yield depths


def registry() -> CollectorRegistry:
    """A fresh registry holding only the database collector (no process-local state)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector())
    return reg
