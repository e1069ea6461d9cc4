"""Shared pieces of the operators' admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html


class OperatorAdmin(admin.ModelAdmin):
    """Operators see every tenant: the admin uses each model's unrestricted default manager."""

    list_per_page = 50

    def get_queryset(self, request):
        return self.model._default_manager.get_queryset()


def admin_link(obj, label: str | None = None) -> str:
    """An HTML link to ``obj``'s change page, or '—' when there is nothing to link."""
    if obj is None:
        return "—"
    opts = obj._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(label or obj)
    return format_html('<a href="{}">{}</a>', url, label or str(obj))
