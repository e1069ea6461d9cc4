"""Every write to test definitions: create, change, delete.

Runs copy the script, tool and parameters of their test when they are
created (perfmon/runs/services.py), so changing or deleting a test never
changes what an already requested run executes; a deleted test's runs stay
in the history with ``test`` set to NULL.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from perfmon.core.errors import ValidationFailed
from perfmon.definitions.models import TestDefinition, TestStatus, Tool
from perfmon.definitions.scriptcheck import k6_syntax_error
from runners.adapters import get_adapter
from runners.errors import InvalidSettings, InvalidSpec
from runners.split import Split
from runners.validation import clean_distribution, clean_parameters, distribution_slots

EDITABLE_FIELDS = ("name", "tool", "script", "script_filename", "status", "parameters", "distribution")


def max_script_bytes() -> int:
    """The largest script accepted, in UTF-8 bytes (PERFMON_MAX_SCRIPT_BYTES, 1 MiB by default).

    A script is sent to an agent and stored with every run: it is kept to the
    size of a script, not of a data set.
    """
    return settings.PERFMON_MAX_SCRIPT_BYTES


def _clean(fields: dict) -> dict:
    """Validate the given subset of a definition's fields; raise ValidationFailed with per-field details."""
    errors: dict = {}  # field -> messages, or key -> messages for parameters
    cleaned = dict(fields)
    if "name" in fields:
        cleaned["name"] = (fields["name"] or "").strip()
        if not cleaned["name"]:
            errors["name"] = ["This field may not be blank."]
        elif len(cleaned["name"]) > 200:
            errors["name"] = ["Ensure this field has no more than 200 characters."]
    if "tool" in fields and fields["tool"] not in Tool.values:
        errors["tool"] = [f"\"{fields['tool']}\" is not a valid choice; one of {', '.join(Tool.values)}."]
    if "status" in fields and fields["status"] not in TestStatus.values:
        errors["status"] = [
            f"\"{fields['status']}\" is not a valid choice; one of {', '.join(TestStatus.values)}."
        ]
    if "script" in fields:
        script = fields["script"] if fields["script"] is not None else ""
        if not isinstance(script, str) or not script.strip():
            errors["script"] = ["This field may not be blank."]
        elif len(script.encode()) > (limit := max_script_bytes()):
            errors["script"] = [f"A script may be at most {limit} bytes."]
    if "parameters" in fields:
        # The tool's environment: the rules are runners', checked here so no stored test fails its runs.
        try:
            cleaned["parameters"] = clean_parameters(fields["parameters"])
        except InvalidSettings as exc:
            errors.update(exc.details())
    if "distribution" in fields:
        try:
            cleaned["distribution"] = clean_distribution(fields["distribution"],
                                                         max_parts=settings.PERFMON_SPLIT_MAX_PARTS)
        except InvalidSettings as exc:
            errors.update(exc.details())
    if errors:
        raise ValidationFailed.of(errors)
    return cleaned


def check_split(*, tool: str, parameters: dict, distribution: dict | None, script: str | None = None) -> None:
    """Refuse a distribution the tool cannot split with these parameters (e.g. fewer users than parts).

    Every part is checked by the tool's own adapter (``check_split``), the rules the agent splits by.
    """
    if distribution is None or tool not in Tool.values:
        return
    shares = tuple(share for _, share in distribution_slots(distribution))
    try:
        adapter = get_adapter(tool)
        for index in range(len(shares)):
            adapter.check_split(parameters or {}, Split(index, shares), script=script)
    except InvalidSpec as exc:
        message = f"{tool} cannot split this run: {exc}"
        raise ValidationFailed(f"distribution: {message}", details={"distribution": [message]}) from None


def _check_syntax(*, tool: str, script: str, script_filename: str) -> None:
    """Refuse a k6 script that does not parse (where Node.js can tell: perfmon/definitions/scriptcheck.py)."""
    if tool != Tool.K6:
        return
    error = k6_syntax_error(script, filename=script_filename)
    if error:
        message = f"not valid JavaScript: {error}"
        raise ValidationFailed(f"script: {message}", details={"script": [message]})


def create_test(
    *,
    tenant,
    name: str,
    tool: str,
    script: str,
    status: str = TestStatus.DRAFT,
    script_filename: str = "",
    parameters: dict | None = None,
    distribution: dict | None = None,
) -> TestDefinition:
    """A new test definition of ``tenant`` (status ``draft`` unless given). Raises ValidationFailed."""
    fields = _clean(
        {"name": name, "tool": tool, "script": script, "status": status, "parameters": parameters or {},
         "distribution": distribution}
    )
    _check_syntax(tool=fields["tool"], script=fields["script"], script_filename=script_filename or "")
    check_split(tool=fields["tool"], parameters=fields["parameters"], distribution=fields["distribution"],
                script=fields["script"])
    return TestDefinition.objects.create(tenant=tenant, script_filename=script_filename or "", **fields)


def update_test(*, tenant, test: TestDefinition, **changes) -> TestDefinition:
    """Change some of ``name, tool, script, script_filename, status, parameters`` of ``tenant``'s test.

    Raises ValidationFailed for unknown fields or invalid values. Runs already
    requested keep the script they copied.
    """
    if test.tenant_id != tenant.pk:
        raise ValueError("the test belongs to another tenant")
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"unknown field: {unknown[0]}", details={name: ["Unknown field."] for name in unknown}
        )
    cleaned = _clean(changes)
    if not cleaned:
        return test
    if {"tool", "script", "script_filename"} & set(cleaned):
        _check_syntax(
            tool=cleaned.get("tool", test.tool), script=cleaned.get("script", test.script),
            script_filename=cleaned.get("script_filename", test.script_filename),
        )
    if {"tool", "script", "parameters", "distribution"} & set(cleaned):
        check_split(tool=cleaned.get("tool", test.tool), parameters=cleaned.get("parameters", test.parameters),
                    distribution=cleaned.get("distribution", test.distribution),
                    script=cleaned.get("script", test.script))
    for name, value in cleaned.items():
        setattr(test, name, value)
    test.save(update_fields=[*cleaned, "updated_at"])
    return test


def delete_test(*, tenant, test: TestDefinition) -> None:
    """Delete ``tenant``'s standalone test; its runs (active ones included) are kept and unaffected.

    A monitor's own test is deleted with its monitor, never on its own
    (raises ValidationFailed).
    """
    if test.tenant_id != tenant.pk:
        raise ValueError("the test belongs to another tenant")
    with transaction.atomic():
        if TestDefinition.objects.for_tenant(tenant).filter(pk=test.pk, monitor__isnull=False).exists():
            raise ValidationFailed("this test belongs to a monitor; delete the monitor instead")
        # Run.test is SET_NULL: the history (and runs still going) keep their own copy of the script.
        TestDefinition.objects.for_tenant(tenant).filter(pk=test.pk).delete()
