"""create_test / update_test: parameters are checked by runners' rules on every write."""

from __future__ import annotations

import pytest

from perfmon.core.errors import ValidationFailed
from perfmon.definitions.models import TestDefinition
from perfmon.definitions.services import create_test, update_test

SCRIPT = "export default function () {}\n"


@pytest.mark.parametrize(
    ("parameters", "key", "message"),
    [({"BAD NAME": "x"}, "BAD NAME", "A name is letters, digits and underscores, not starting with a digit."),
     ({"TOKEN": "a\x00b"}, "TOKEN", "Null characters are not allowed."),
     ({"NESTED": {"a": 1}}, "NESTED", "A value is a string (or a number or boolean).")],
)
def test_create_refuses_parameters_a_tool_cannot_take_and_stores_nothing(acme, parameters, key, message):
    with pytest.raises(ValidationFailed) as caught:
        create_test(tenant=acme, name="api", tool="k6", script=SCRIPT, parameters=parameters)
    assert caught.value.details == {"parameters": {key: [message]}}
    assert caught.value.message == f"parameters: {key}: {message}"
    assert not TestDefinition.objects.for_tenant(acme).exists()


def test_update_refuses_bad_parameters_and_keeps_the_stored_ones(acme):
    test = create_test(tenant=acme, name="api", tool="k6", script=SCRIPT, parameters={"USERS": 5})
    assert test.parameters == {"USERS": "5"}  # stored as the tool's environment will get them
    with pytest.raises(ValidationFailed) as caught:
        update_test(tenant=acme, test=test, name="renamed", parameters={"BAD NAME": "x", "OK": "1"})
    assert set(caught.value.details["parameters"]) == {"BAD NAME"}
    stored = TestDefinition.objects.for_tenant(acme).get()
    assert (stored.name, stored.parameters) == ("api", {"USERS": "5"})


def test_every_bad_field_is_reported_together(acme):
    with pytest.raises(ValidationFailed) as caught:
        create_test(tenant=acme, name=" ", tool="k6", script=SCRIPT, parameters=["not", "an", "object"])
    assert caught.value.details == {"name": ["This field may not be blank."],
                                    "parameters": ["Parameters are an object of names to values."]}
    assert caught.value.message == "name: This field may not be blank."
