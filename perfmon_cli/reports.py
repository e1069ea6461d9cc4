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


def result_document(target: dict, run: dict, *, exit_code: int, url: str, duration_s: float) -> dict:
    """What ``--json`` writes: the target, the run as the API gave it, the verdict, why, and the exit code."""
    return {
        "target": target,
        "run": run,
        "status": run.get("status"),
        "passed": run.get("status") == "pass",
        "reason": run.get("reason"),
        "exitCode": exit_code,
        "runUrl": run_page_url(url, run.get("id")),
        "waitedSeconds": round(duration_s, 3),
    }


def write_json(path: str, document: dict) -> None:
    Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _describe_breach(breach: dict) -> str:
    sign = "<" if breach.get("metric") == "apdexMin" else ">"  # apdexMin is a floor, the others ceilings
    return f"{breach.get('metric')}: actual {breach.get('actual')} {sign} threshold {breach.get('threshold')}"


def write_junit(path: str, document: dict, log_text: str = "") -> None:
    """One testsuite with one testcase (the run): <failure> for fail, <error> for error, <skipped> otherwise."""
    run, target = document["run"], document["target"]
    status = run.get("status")
    name = target.get("name") or target.get("id")
    suite = ET.Element("testsuite", {
        "name": "perfmon", "tests": "1",
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
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
