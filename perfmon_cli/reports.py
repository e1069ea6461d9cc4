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


def result_document(target: dict, run: dict, *, exit_code: int, url: str, duration_s: float) -> dict:
    """What ``--json`` writes: the target, the run as the API gave it, the verdict and exit code."""
    return {
        "target": target,
        "run": run,
        "status": run.get("status"),
        "passed": run.get("status") == "pass",
        "exitCode": exit_code,
        "runUrl": f"{url}/api/runs/{run.get('id')}",
        "waitedSeconds": round(duration_s, 3),
    }


def write_json(path: str, document: dict) -> None:
    Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _describe_breach(breach: dict) -> str:
    return f"{breach.get('metric')}: actual {breach.get('actual')} > threshold {breach.get('threshold')}"


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
    for key, value in [("run.id", run.get("id")), ("run.status", status), ("run.url", document["runUrl"]),
                       ("agent", run.get("agentId"))] + [
            (f"metrics.{k}", v) for k, v in sorted((run.get("metrics") or {}).items())]:
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": str(value)})
    breaches = run.get("thresholdBreaches") or []
    if status == "fail":
        message = "; ".join(_describe_breach(b) for b in breaches) or "thresholds breached"
        failure = ET.SubElement(case, "failure", {"message": xml_text(message), "type": "ThresholdBreached"})
        failure.text = json.dumps(breaches, indent=2)
    elif status in ("cancelled", "skipped"):
        ET.SubElement(case, "skipped", {"message": f"the run was {status}"})
    elif status != "pass":
        message = run.get("error") or f"the run ended as {status}"
        ET.SubElement(case, "error", {"message": xml_text(message), "type": str(status)})
    if log_text:
        ET.SubElement(case, "system-out").text = xml_text(log_text)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
