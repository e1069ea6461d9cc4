"""The files a pipeline keeps: the result JSON and a JUnit XML report."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

# Characters XML 1.0 cannot carry (tools' logs have ANSI escapes and other control bytes).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def run_page_url(url: str, run_id) -> str:
    """The run's page on the dashboard (charts, log, comparison): where a person follows a report's link."""
    return f"{url}/runs/{run_id}/"


# Causes named in a request testcase's failure message; the rest are in its text.
CAUSES_IN_MESSAGE = 3


def result_document(target: dict, run: dict, *, exit_code: int, url: str, duration_s: float,
                    requests: list[dict] | None = None, errors: list[dict] | None = None) -> dict:
    """What ``--json`` writes: the target, the run as the API gave it, the verdict, why, the exit code,
    and the run's figures per request name and its errors by cause (None when they were not read)."""
    return {
        "target": target,
        "run": run,
        "status": run.get("status"),
        "passed": run.get("status") == "pass",
        "reason": run.get("reason"),
        "exitCode": exit_code,
        "runUrl": run_page_url(url, run.get("id")),
        "waitedSeconds": round(duration_s, 3),
        "requests": requests,
        "errors": errors,
    }


def write_json(path: str, document: dict) -> None:
    Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _describe_breach(breach: dict) -> str:
    sign = "<" if breach.get("metric") == "apdexMin" else ">"  # apdexMin is a floor, the others ceilings
    where = f"{breach['request']} " if breach.get("request") else ""
    return f"{where}{breach.get('metric')}: actual {breach.get('actual')} {sign} threshold {breach.get('threshold')}"


def request_label(row: dict) -> str:
    """``GET /api/cart``: the request's name after its method (unless the name already starts with it);
    ``(unnamed)`` for the requests of a tool that names none."""
    name, method = str(row.get("name") or ""), str(row.get("method") or "")
    if not name:
        return f"{method} (unnamed)" if method else "(unnamed)"
    return f"{method} {name}" if method and not name.startswith(f"{method} ") else name


def _request_failure(row: dict, causes: list[dict]) -> tuple[str, str]:
    """(message, text) of a request testcase's <failure>: how many failed, and the causes."""
    rate = row["errors"] / row["count"] * 100 if row.get("count") else 0.0
    message = f"{row['errors']:,} of {row.get('count', 0):,} requests failed ({rate:.2f} %)"
    if causes:
        named = "; ".join(f"{c['cause']} ({c['count']:,})" for c in causes[:CAUSES_IN_MESSAGE])
        more = f"; {len(causes) - CAUSES_IN_MESSAGE} more causes" if len(causes) > CAUSES_IN_MESSAGE else ""
        message += f": {named}{more}"
    return message, json.dumps(causes, indent=2)


def _request_case(suite: ET.Element, row: dict, causes: list[dict], breaches: list[dict]) -> bool:
    """A testcase for one request name; True when it failed: a threshold of that name was breached
    (``breaches``), or requests of that name failed."""
    avg = row.get("avg")
    case = ET.SubElement(suite, "testcase", {
        "classname": "perfmon.request", "name": xml_text(request_label(row)),
        "time": f"{(avg or 0) / 1000:.3f}",
    })
    properties = ET.SubElement(case, "properties")
    codes = ",".join(f"{code}={n}" for code, n in sorted((row.get("statusCodes") or {}).items()))
    figures = [("request.name", row.get("name")), ("request.method", row.get("method") or None),
               ("statusCodes", codes or None)]
    figures += [(key, row.get(key)) for key in ("count", "errors", "errorRate", "p50", "p90", "p95", "p99", "avg",
                                                "min", "max", "throughput")]
    for key, value in figures:
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": xml_text(str(value))})
    if breaches:
        # the testcase is the request: its breaches need not name it again
        message = "; ".join(_describe_breach({k: v for k, v in b.items() if k != "request"}) for b in breaches)
        if row.get("errors"):
            message += "; " + _request_failure(row, causes)[0]
        failure = ET.SubElement(case, "failure", {"message": xml_text(message), "type": "ThresholdBreached"})
        failure.text = xml_text(json.dumps({"breaches": breaches, "errors": causes}, indent=2))
        return True
    if not row.get("errors"):
        return False
    message, text = _request_failure(row, causes)
    failure = ET.SubElement(case, "failure", {"message": xml_text(message), "type": "RequestErrors"})
    failure.text = xml_text(text)
    return True


def write_junit(path: str, document: dict, log_text: str = "") -> None:
    """One testsuite: a testcase for the run (<failure> for fail, <error> for error, <skipped> for cancelled
    or skipped), then one per request name (a <failure> when requests of that name failed)."""
    run, target = document["run"], document["target"]
    status = run.get("status")
    name = target.get("name") or target.get("id")
    requests = document.get("requests") or []
    suite = ET.Element("testsuite", {
        "name": "perfmon", "tests": str(1 + len(requests)),
        "failures": "1" if status == "fail" else "0",
        "errors": "1" if status not in ("pass", "fail", "cancelled", "skipped") else "0",
        "skipped": "1" if status in ("cancelled", "skipped") else "0",
        "time": f"{document['waitedSeconds']:.3f}",
    })
    case = ET.SubElement(suite, "testcase", {
        "classname": f"perfmon.{target.get('kind', 'monitor')}", "name": str(name),
        "time": f"{document['waitedSeconds']:.3f}",
    })
    properties = ET.SubElement(case, "properties")
    for key, value in [("run.id", run.get("id")), ("run.status", status), ("run.reason", document.get("reason")),
                       ("run.url", document["runUrl"]), ("agent", run.get("agentId"))] + [
            (f"metrics.{k}", v) for k, v in sorted((run.get("metrics") or {}).items())]:
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": xml_text(str(value))})
    breaches = run.get("thresholdBreaches") or []
    if status == "fail":
        message = "; ".join(_describe_breach(b) for b in breaches) or "thresholds breached"
        failure = ET.SubElement(case, "failure", {"message": xml_text(message), "type": "ThresholdBreached"})
        failure.text = json.dumps(breaches, indent=2)
    elif status in ("cancelled", "skipped"):
        reason = document.get("reason")
        ET.SubElement(case, "skipped", {"message": xml_text(f"the run was {status}" + (f": {reason}" if reason else ""))})
    elif status != "pass":
        if status in ("queued", "running"):
            message = f"the run was still {status} when the wait ended (--timeout)"
        else:
            message = document.get("reason") or run.get("error") or f"the run ended as {status}"
        error = ET.SubElement(case, "error", {"message": xml_text(message), "type": str(status)})
        error.text = xml_text(message)
    if log_text:
        ET.SubElement(case, "system-out").text = xml_text(log_text)
    causes: dict[tuple, list[dict]] = {}
    for row in document.get("errors") or []:
        causes.setdefault((row.get("name"), row.get("method")), []).append(row)
    breached: dict[str, list[dict]] = {}
    for breach in run.get("thresholdBreaches") or []:
        if isinstance(breach, dict) and breach.get("request") is not None:
            breached.setdefault(str(breach["request"]), []).append(breach)
    failed = sum(_request_case(suite, row, causes.get((row.get("name"), row.get("method")), []),
                               breached.get(str(row.get("name")), []))
                 for row in requests)
    suite.set("failures", str(int(suite.get("failures")) + failed))
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
