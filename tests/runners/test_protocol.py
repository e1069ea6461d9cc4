"""The agent API's documents (runners/protocol.py): what they carry, and what they refuse."""

import json

import pytest

from runners.protocol import (
    MAX_ERROR_CHARS,
    SCHEMA_VERSION,
    ClaimAnswer,
    Outcome,
    ProtocolError,
    RunAssignment,
    RunReport,
)
from runners.records import RequestRecord
from runners.result import ResultBuilder

RUN = "11111111-1111-1111-1111-111111111111"


def a_claim(**changes) -> dict:
    answer = ClaimAnswer(
        run_id=RUN, tool="k6", script="export default function () {}", script_filename="",
        parameters={"USERS": "5"}, thresholds={"latencyMs": 200}, apdex_t_ms=300, time_limit_s=1800,
        interval_s=1.0,
    ).to_dict()
    answer.update(changes)
    return answer


def a_result(latencies_ms=(10, 20, 30)):
    builder = ResultBuilder(apdex_t_ms=500)
    for i, latency in enumerate(latencies_ms):
        builder.add(RequestRecord(ts=1_763_859_000.0 + i * 0.1, latency_ms=latency, status=200))
    return builder.result()


def refused(reader, data) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        reader(data)
    return caught.value


def test_a_claim_answer_survives_json_unchanged():
    answer = ClaimAnswer.from_dict(json.loads(json.dumps(a_claim())))
    assert answer.to_dict() == a_claim()
    assert (answer.apdex_t_ms, answer.time_limit_s, answer.interval_s) == (300, 1800, 1.0)
    assert answer.parameters == {"USERS": "5"} and answer.version == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"apdex_t_ms": None}, "apdex_t_ms", "whole number"),
        ({"apdex_t_ms": 0}, "apdex_t_ms", "at least 1"),  # never silently 500
        ({"time_limit_s": "1800"}, "time_limit_s", "whole number"),
        ({"interval_s": 0}, "interval_s", "positive number"),  # never silently 1 or 5
        ({"interval_s": True}, "interval_s", "positive number"),
        ({"parameters": {"USERS": 5}}, "parameters.USERS", "string"),
        ({"parameters": ["USERS=5"]}, "parameters", "object"),
        ({"script": None}, "script", "string"),
        ({"version": 2}, "version", "schema version 2"),
    ],
)
def test_a_claim_answer_with_a_bad_field_is_refused_naming_it(changes, field, words):
    error = refused(ClaimAnswer.from_dict, a_claim(**changes))
    assert error.field == field and words in error.reason
    assert str(error).startswith(f"{field}: ")


@pytest.mark.parametrize("missing", ["run_id", "tool", "script", "script_filename", "parameters",
                                     "thresholds", "apdex_t_ms", "time_limit_s", "interval_s"])
def test_every_field_of_a_claim_answer_is_required(missing):
    answer = a_claim()
    del answer[missing]
    error = refused(ClaimAnswer.from_dict, answer)
    assert (error.field, error.reason) == (missing, "is required")


def test_a_report_carries_its_result_through_json():
    result = a_result()
    report = RunReport(Outcome.COMPLETED, exit_code=0, result=result, series_count=1, log_chunk_count=2)
    body = json.loads(json.dumps(report.to_dict()))
    assert body["version"] == SCHEMA_VERSION and body["outcome"] == "completed"
    read = RunReport.from_dict(body)
    assert read == report
    assert read.result.count == 3 and read.result.histogram == result.histogram


def test_reports_spooled_by_earlier_agents_are_read():
    # The bodies the agent wrote before reports had a version: a completed run (no "error")...
    completed = {"outcome": "completed", "exit_code": 0, "result": a_result().to_dict(),
                 "series_count": 1, "log_chunk_count": 4}
    read = RunReport.from_dict(completed)
    assert (read.outcome, read.error, read.result.count, read.series_count) == (Outcome.COMPLETED, "", 3, 1)
    # ... and a run found unfinished at the agent's start.
    lost = {"outcome": "agent_error", "exit_code": None, "error": "agent 'eu-1' stopped unexpectedly",
            "result": None, "series_count": 3, "log_chunk_count": 7}
    read = RunReport.from_dict(lost)
    assert (read.outcome, read.result, read.log_chunk_count) == (Outcome.AGENT_ERROR, None, 7)
    # Only the outcome was ever required.
    assert RunReport.from_dict({"outcome": "timed_out"}) == RunReport(Outcome.TIMED_OUT)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"outcome": "finished"}, "outcome", "completed, tool_failed, cancelled, timed_out, agent_error"),
        ({}, "outcome", "is required"),
        ({"outcome": "completed", "exit_code": True}, "exit_code", "whole number"),
        ({"outcome": "completed", "series_count": -1}, "series_count", "at least 0"),
        ({"outcome": "completed", "log_chunk_count": 2.5}, "log_chunk_count", "whole number"),
        ({"outcome": "tool_failed", "error": "x" * (MAX_ERROR_CHARS + 1)}, "error",
         f"at most {MAX_ERROR_CHARS}"),
        ({"outcome": "completed", "result": {"count": "many"}}, "result", "Result"),
        ({"outcome": "completed", "version": 0}, "version", "schema version 0"),
    ],
)
def test_a_bad_report_is_refused_naming_the_field(body, field, words):
    error = refused(RunReport.from_dict, body)
    assert error.field == field and words in error.reason


def test_a_document_that_is_not_an_object_is_refused_as_a_whole():
    for reader in (ClaimAnswer.from_dict, RunReport.from_dict):
        error = refused(reader, ["outcome", "completed"])
        assert error.field is None and "JSON object" in str(error)


def test_one_set_of_outcome_names():
    assert [o.value for o in Outcome] == ["completed", "tool_failed", "cancelled", "timed_out", "agent_error"]
    with pytest.raises(ValueError, match="finished"):
        RunReport("finished")


def test_the_run_assignment_still_requires_its_version():
    assignment = RunAssignment(run_id=RUN, agent_id="eu-1", tool="k6", time_limit_s=60)
    assert RunAssignment.from_dict(assignment.to_dict()) == assignment
    unversioned = assignment.to_dict()
    del unversioned["version"]
    assert "schema version None" in str(refused(RunAssignment.from_dict, unversioned))
