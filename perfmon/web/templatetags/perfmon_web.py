"""Formatting for the dashboard: numbers with units, status badges, sparklines, the tenant switcher."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from perfmon.runs.breaches import describe as describe_breach
from perfmon.tenants.models import Tenant

register = template.Library()

SPARK_W, SPARK_H, SPARK_PAD = 120, 28, 2


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register.filter
def ms(value):
    """A latency in milliseconds, to a sensible precision."""
    if not _number(value):
        return "—"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


@register.filter
def pct(fraction):
    """A fraction (0.0125) as a percentage (1.25 %)."""
    if not _number(fraction):
        return "—"
    return f"{fraction * 100:.2f} %"


@register.filter
def rps(value):
    return f"{value:,.1f} req/s" if _number(value) else "—"


@register.filter
def num(value, digits=2):
    return f"{value:,.{int(digits)}f}" if _number(value) else "—"


@register.filter
def unit(value, unit_name):
    """Format ``value`` for a comparison row by its unit."""
    if unit_name == "ms":
        return ms(value)
    if unit_name == "%":
        return pct(value)
    if unit_name == "req/s":
        return rps(value)
    return num(value)


@register.filter
def signed(value):
    return f"{value:+.1f} %" if _number(value) else ""


@register.filter
def breach(value, thresholds=None):
    """A stored breach in words with unit and percentile; ``thresholds`` are the run's."""
    return describe_breach(value, thresholds)


@register.filter
def lookup(mapping, key):
    return (mapping or {}).get(key)


@register.simple_tag
def status_badge(status):
    label = status or "never run"
    return format_html('<span class="badge status-{}">{}</span>', status or "none", label)


@register.simple_tag
def sparkline(values):
    """An inline SVG line of ``values`` (oldest first), scaled to its own range; no JavaScript."""
    values = [v for v in values if _number(v)]
    if len(values) < 2:
        return format_html('<span class="muted">{}</span>', "not enough runs" if not values else ms(values[0]))
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (SPARK_W - 2 * SPARK_PAD) / (len(values) - 1)
    points = " ".join(
        f"{SPARK_PAD + i * step:.1f},{SPARK_H - SPARK_PAD - (v - low) / span * (SPARK_H - 2 * SPARK_PAD):.1f}"
        for i, v in enumerate(values)
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline fill="none" stroke="#E69F00" stroke-width="1.5" points="{}"/></svg>'
        ' <span class="spark-last">{}</span>',
        SPARK_W, SPARK_H, SPARK_W, SPARK_H, f"p95 over the last {len(values)} runs, {ms(low)} to {ms(high)}",
        points, ms(values[-1]),
    )


@register.simple_tag(takes_context=True)
def switchable_tenants(context):
    """The tenants an operator may switch to (none for tenant users)."""
    request = context.get("request")
    viewer = getattr(request, "viewer", None)
    if viewer is None or not viewer.is_operator:
        return []
    return list(Tenant.objects.filter(is_active=True).order_by("name").only("id", "name", "slug"))
