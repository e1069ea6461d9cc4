"""runners/validation.py: the one set of rules for thresholds and parameters."""

import math

import pytest

from runners.adapters.base import parameter_env
from runners.errors import InvalidSettings, InvalidSpec
from runners.validation import MAX_PARAMETER_VALUE, MAX_PARAMETERS, clean_parameters, clean_thresholds

# --- thresholds -----------------------------------------------------------


def test_valid_thresholds_come_back_as_stored():
    cleaned = clean_thresholds({"latencyMs": "2000", "errorRatePercent": 5, "apdexMin": 0.7,
                                "latencyPercentile": 99.0})
    assert cleaned == {"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7, "latencyPercentile": 99}
    assert type(cleaned["latencyMs"]) is int and type(cleaned["latencyPercentile"]) is int
    assert clean_thresholds(cleaned) == cleaned  # cleaning twice changes nothing


def test_none_is_no_thresholds_and_a_none_key_is_unset():
    assert clean_thresholds(None) == {}
    assert clean_thresholds({"latencyMs": None, "apdexMin": 0}) == {"apdexMin": 0.0}


@pytest.mark.parametrize(
    ("thresholds", "key", "message"),
    [
        ({"latencyPercentile": 42}, "latencyPercentile", "Must be one of 50, 90, 95, 99."),
        ({"errorRatePercent": 500}, "errorRatePercent", "Must be at least 0 and at most 100."),
        ({"apdexMin": 1.5}, "apdexMin", "Must be at least 0 and at most 1."),
        ({"latencyMs": 0}, "latencyMs", "Must be above 0 and at most 3.6e+06."),
        ({"latencyMs": math.inf}, "latencyMs", "A valid number is required."),
        ({"latencyMs": True}, "latencyMs", "A valid number is required."),
        ({"latencyMs": "fast"}, "latencyMs", "A valid number is required."),
        ({"p95": 100}, "p95", "Unknown threshold; use latencyMs, errorRatePercent, apdexMin, latencyPercentile or requests."),
    ],
)
def test_bad_threshold_is_named_with_its_message(thresholds, key, message):
    with pytest.raises(InvalidSettings) as caught:
        clean_thresholds(thresholds)
    assert caught.value.field == "thresholds"
    assert caught.value.errors == {key: [message]}
    assert caught.value.details() == {"thresholds": {key: [message]}}
    assert str(caught.value) == f"thresholds: {key}: {message}"


def test_every_bad_threshold_is_reported_at_once():
    with pytest.raises(InvalidSettings) as caught:
        clean_thresholds({"latencyPercentile": 42, "errorRatePercent": 500, "latencyMs": 100})
    assert set(caught.value.errors) == {"latencyPercentile", "errorRatePercent"}


def test_thresholds_that_are_not_an_object_are_refused_whole():
    with pytest.raises(InvalidSettings) as caught:
        clean_thresholds([("latencyMs", 100)])
    assert caught.value.errors == {}
    assert caught.value.details() == {"thresholds": ['Thresholds are an object such as {"latencyMs": 2000}.']}


# --- parameters -----------------------------------------------------------


def test_scalar_parameters_become_strings():
    cleaned = clean_parameters({"BASE_URL": "http://127.0.0.1:8080", "VUS": 5, "RATE": 1.5, "DEBUG": True, "_x": ""})
    assert cleaned == {"BASE_URL": "http://127.0.0.1:8080", "VUS": "5", "RATE": "1.5", "DEBUG": "true", "_x": ""}
    assert clean_parameters(cleaned) == cleaned
    assert clean_parameters(None) == {}


@pytest.mark.parametrize(
    ("parameters", "key", "message"),
    [
        ({"BAD NAME": "x"}, "BAD NAME", "A name is letters, digits and underscores, not starting with a digit."),
        ({"1ST": "x"}, "1ST", "A name is letters, digits and underscores, not starting with a digit."),
        ({"NAME\n": "x"}, "NAME\n", "A name is letters, digits and underscores, not starting with a digit."),
        ({"A" * 129: "x"}, "A" * 129, "A name is letters, digits and underscores, not starting with a digit."),
        ({"TOKEN": "a\x00b"}, "TOKEN", "Null characters are not allowed."),
        ({"LIST": [1, 2]}, "LIST", "A value is a string (or a number or boolean)."),
        ({"NAN": math.nan}, "NAN", "A value is a string (or a number or boolean)."),
        ({"BIG": "x" * (MAX_PARAMETER_VALUE + 1)}, "BIG", f"A value may be at most {MAX_PARAMETER_VALUE} characters."),
    ],
)
def test_bad_parameter_is_named_with_its_message(parameters, key, message):
    with pytest.raises(InvalidSettings) as caught:
        clean_parameters(parameters)
    assert caught.value.details() == {"parameters": {key: [message]}}


def test_too_many_parameters_are_refused_whole():
    assert len(clean_parameters({f"P{n}": "v" for n in range(MAX_PARAMETERS)})) == MAX_PARAMETERS
    with pytest.raises(InvalidSettings) as caught:
        clean_parameters({f"P{n}": "v" for n in range(MAX_PARAMETERS + 1)})
    assert caught.value.details() == {"parameters": [f"At most {MAX_PARAMETERS} parameters."]}


def test_the_adapters_environment_follows_the_same_rules():
    assert parameter_env({"BASE_URL": "http://127.0.0.1", "VUS": 3}) == {"BASE_URL": "http://127.0.0.1", "VUS": "3"}
    with pytest.raises(InvalidSpec) as caught:  # what the agent catches for a spec it cannot run
        parameter_env({"BAD NAME": "x"})
    assert isinstance(caught.value, InvalidSettings) and "BAD NAME" in str(caught.value)
