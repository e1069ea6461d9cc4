"""The dashboard's small pure pieces: parameters text and the monitor form's checks, threshold lines,
comparisons and baselines."""

from __future__ import annotations

import pytest
from django import forms

from perfmon.core.errors import ValidationFailed
from perfmon.web.forms import MonitorForm, format_parameters, parse_parameters
from perfmon.web.queries import comparison, median_metrics, threshold_lines


def test_parameters_as_name_value_lines():
    text = "# the target\nBASE_URL = https://acme.test/?a=b\n\nUSERS=5\n"
    assert parse_parameters(text) == {"BASE_URL": "https://acme.test/?a=b", "USERS": "5"}
    assert parse_parameters(format_parameters({"A": "1", "B": "x=y"})) == {"A": "1", "B": "x=y"}


def test_parameters_as_json_object():
    assert parse_parameters('{"USERS": 5, "NAME": "x"}') == {"USERS": "5", "NAME": "x"}


@pytest.mark.parametrize("text", ["just words", "=value", '{"a": ', "[1, 2]"])
def test_bad_parameters_say_what_is_wrong(text):
    with pytest.raises(forms.ValidationError):
        parse_parameters(text)


def test_threshold_lines_for_the_charts():
    assert threshold_lines({"latencyMs": 800, "latencyPercentile": 99, "errorRatePercent": 2.5}) == {
        "latency": [{"label": "threshold p99", "value": 800}], "errors": [{"label": "threshold", "value": 2.5}],
    }
    assert threshold_lines({"apdexMin": 0.8}) == {"latency": [], "errors": []}


def test_baseline_is_the_median_of_each_figure():
    runs = [{"p95_ms": 100.0, "apdex": 0.9}, {"p95_ms": 300.0}, {"p95_ms": 200.0, "apdex": 0.7}]
    assert median_metrics(runs) == {"p95_ms": 200.0, "apdex": 0.8}


def test_comparison_knows_which_direction_is_better():
    rows = {row["key"]: row for row in comparison(
        {"p95_ms": 110.0, "throughput_rps": 50.0, "error_rate": 0.02, "apdex": 0.9},
        {"p95_ms": 100.0, "throughput_rps": 40.0, "error_rate": 0.02},
        {"p95_ms": 200.0, "throughput_rps": 60.0},
    )}
    assert rows["p95_ms"]["previous"]["verdict"] == "worse" and round(rows["p95_ms"]["previous"]["change_pct"]) == 10
    assert rows["p95_ms"]["baseline"]["verdict"] == "better"
    assert rows["throughput_rps"]["previous"]["verdict"] == "better"
    assert rows["throughput_rps"]["baseline"]["verdict"] == "worse"
    assert rows["error_rate"]["previous"]["verdict"] == "same"
    assert rows["apdex"]["previous"] is None and rows["p50_ms"]["value"] is None


def _monitor_form(**overrides):
    data = {"name": "Checkout", "tool": "k6", "script_text": "export default function () {}\n",
            "schedule": "*/15 * * * *", "timezone": "UTC", "enabled": "on", "latency_percentile": "95",
            "apdex_t_ms": "500", "parameters": ""}
    data.update(overrides)
    return MonitorForm(data=data)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("BAD NAME=1", "BAD NAME: A name is letters, digits and underscores, not starting with a digit."),
     ('{"TOKEN": "a\\u0000b"}', "TOKEN: Null characters are not allowed."),
     ("1ST=x\nOK=2", "1ST: A name is letters, digits and underscores, not starting with a digit.")],
)
def test_monitor_form_refuses_parameters_the_tool_cannot_take(text, shown):
    form = _monitor_form(parameters=text)
    assert not form.is_valid()
    assert form.errors["parameters"] == [shown]


def test_monitor_form_accepts_good_parameters_as_strings():
    form = _monitor_form(parameters='{"USERS": 5, "BASE_URL": "http://127.0.0.1:8080"}')
    assert form.is_valid(), form.errors
    assert form.service_fields()["parameters"] == {"USERS": "5", "BASE_URL": "http://127.0.0.1:8080"}


def test_service_errors_land_on_the_inputs_they_are_about():
    form = _monitor_form()
    assert form.is_valid(), form.errors
    form.add_service_errors(ValidationFailed.of({
        "thresholds": {"errorRatePercent": ["Must be at least 0 and at most 100."],
                       "latencyPercentile": ["Must be one of 50, 90, 95, 99."]},
        "parameters": {"BAD NAME": ["A name is letters, digits and underscores, not starting with a digit."]},
    }))
    assert form.errors["error_rate_percent"] == ["Must be at least 0 and at most 100."]
    assert form.errors["latency_percentile"] == ["Must be one of 50, 90, 95, 99."]
    assert form.errors["parameters"] == ["BAD NAME: A name is letters, digits and underscores, not starting with a digit."]
    assert "__all__" not in form.errors
