"""Formatting for the dashboard: numbers with units, status badges, sparklines, the tenant switcher."""

from __future__ import annotations

from html import escape

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

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
def percent(value):
    """A value that is already a percentage (12.5) as text (12.50 %)."""
    return f"{value:.2f} %" if _number(value) else "—"


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
    if unit_name == "n":  # a count: whole
        return num(value, 0)
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


def _codes(pairs) -> str:
    """Status codes with their counts ("200 ×25 500 ×3"), the failing ones marked; escaped HTML."""
    return " ".join(
        f'<span class="code{"" if str(code)[:1] in ("2", "3") else " code-bad"}">{escape(str(code))}&nbsp;×{num(n, 0)}</span>'
        for code, n in pairs)


@register.simple_tag
def request_cells(row):
    """The figure cells of a per-request table row (run_analysis.html), each carrying its raw value to sort by.

    Built here rather than in the template, with the standard library's escape: a capped
    breakdown has 300 rows of 11 cells each, and template nodes would take most of the page's time.
    """
    def cell(value, text, css="num"):
        raw = "" if value is None else escape(str(value))
        return f'<td class="{css}" data-value="{raw}">{escape(text)}</td>'

    cells = [
        cell(row["count"], num(row["count"], 0)),
        cell(row["errors"], num(row["errors"], 0)),
        cell(row["error_pct"], percent(row["error_pct"]), "num verdict-worse" if row["errors"] else "num"),
        f'<td class="codes">{_codes(row["status_codes"]) or "—"}</td>',
        *(cell(row[key], ms(row[key])) for key in ("p50", "p90", "p95", "p99", "avg", "max")),
        cell(row["rps"], rps(row["rps"])),
    ]
    return mark_safe("".join(cells))  # noqa: S308 - every value in it is escaped above


@register.filter
def status_codes(pairs):
    return mark_safe(_codes(pairs))  # noqa: S308 - escaped by _codes


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
