"""Shared pieces of the operators' admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from perfmon.core.errors import PerfmonError

_UNSET = object()


class OperatorAdmin(admin.ModelAdmin):
    """Operators see every tenant: the admin uses each model's unrestricted default manager."""

    list_per_page = 50

    def get_queryset(self, request):
        return self.model._default_manager.get_queryset()

    def report(self, request, done: int, what: str, failures: list[str]) -> None:
        """An action's outcome: how many objects it changed, and why the others were left alone."""
        self.message_user(request, f"{done} {what}.", messages.SUCCESS)
        for failure in failures:
            self.message_user(request, failure, messages.ERROR)


class ServiceForm(forms.ModelForm):
    """A change form that writes through its app's service, so the admin is no second write path.

    The service is called as the last step of validation (after Django's own
    checks): only there can its ValidationFailed or Conflict still become
    messages on the form's fields. ServiceAdmin.save_model then has nothing
    left to write. Subclasses implement ``write(stored, changes)``, and
    ``create(values)`` (returning the new object) when their admin adds.
    """

    def write(self, stored, changes: dict) -> None:
        raise NotImplementedError

    def create(self, values: dict):
        raise NotImplementedError

    def _post_clean(self):
        super()._post_clean()
        if self.errors or self.cleaned_data.get("DELETE"):
            return  # an inline row marked for deletion is removed by its admin's save_formset
        if self.instance._state.adding:
            values = {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}
            try:
                # The admin saves, logs and links to form.instance: make it the object the service made.
                self.instance = self.create(values)
            except PerfmonError as exc:
                self._add_service_errors(exc)
            return
        changes = {
            name: self.cleaned_data[name] for name in self.changed_data
            if name in self.cleaned_data and self.cleaned_data[name] != self.initial.get(name, _UNSET)
        }
        if not changes:
            return
        # The stored row, not self.instance, which the form has already overwritten with its input.
        stored = type(self.instance)._default_manager.get(pk=self.instance.pk)
        try:
            self.write(stored, changes)
        except PerfmonError as exc:
            self._add_service_errors(exc)

    def _add_service_errors(self, error: PerfmonError) -> None:
        placed = False
        for field, problems in (error.details or {}).items():
            if field not in self.fields:
                continue
            if isinstance(problems, dict):  # per key of a JSON field: "BAD NAME: ..."
                problems = [f"{key}: {message}" for key, items in problems.items() for message in items]
            self.add_error(field, list(problems))
            placed = True
        if not placed:
            self.add_error(None, error.message)


class ServiceAdmin(OperatorAdmin):
    """An admin whose change form is a ServiceForm: the service has saved the object already."""

    # True where the admin is where such objects are made (its form implements ``create``).
    adds = False

    def has_add_permission(self, request):
        # Otherwise new objects come from their services' own entry points (API, dashboard,
        # commands), which create what belongs with them and show secrets once.
        return self.adds and super().has_add_permission(request)

    def save_model(self, request, obj, form, change):
        pass  # written by the form's service call (ServiceForm)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if request.method == "POST":
            # The page is shown again, so something was refused (the form or an inline row), while
            # the services called for the rest have written already. Undo those writes (the admin's
            # view runs in a transaction) so that what the page shows is what is stored.
            transaction.set_rollback(True)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


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
