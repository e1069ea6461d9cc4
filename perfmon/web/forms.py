"""Dashboard forms. They only shape input: every write goes through the apps' services,
whose ValidationFailed details are put back on the form's fields."""

from __future__ import annotations

import json

from django import forms

from perfmon.definitions.models import Tool
from perfmon.definitions.services import max_script_bytes
from perfmon.monitors.models import DEFAULT_APDEX_T_MS
from runners.errors import InvalidSettings
from runners.validation import clean_parameters

PERCENTILES = [(50, "p50"), (90, "p90"), (95, "p95"), (99, "p99")]
# Service field names -> the form field that shows their errors.
ERROR_FIELDS = {
    "apdex_t_ms": "apdex_t_ms",
    "thresholds": "latency_ms",
    "script": "script_file",
    "parameters": "parameters",
}
# Threshold keys (the services' per-key details) -> the form field each one is entered in.
THRESHOLD_FIELDS = {
    "latencyMs": "latency_ms",
    "latencyPercentile": "latency_percentile",
    "errorRatePercent": "error_rate_percent",
    "apdexMin": "apdex_min",
}


def parse_parameters(text: str) -> dict[str, str]:
    """``NAME=value`` lines (blank lines and ``#`` comments ignored), or a JSON object, into a dict."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Parameters are an object of names to values.")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    params = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise forms.ValidationError(f"Line {number}: write NAME=value.")
        params[name.strip()] = value.strip()
    return params


def _messages(messages) -> list[str]:
    """A field's messages, flattening per-key ones ({"BAD NAME": ["…"]}) to "BAD NAME: …"."""
    if isinstance(messages, dict):
        return [f"{key}: {message}" for key, items in messages.items() for message in items]
    return list(messages)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def format_parameters(params: dict) -> str:
    return "\n".join(f"{name}={value}" for name, value in (params or {}).items())


class MonitorForm(forms.Form):
    name = forms.CharField(max_length=200)
    tool = forms.ChoiceField(choices=Tool.choices)
    script_file = forms.FileField(
        required=False, label="Script file", help_text="Upload the tool's script (k6 .js, JMeter .jmx, locustfile …)."
    )
    # strip=False: a script's surrounding whitespace is part of it, and an untouched script must
    # compare equal to the stored one.
    script_text = forms.CharField(
        required=False, strip=False, label="…or paste the script",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
    )
    schedule = forms.CharField(
        max_length=120, initial="*/15 * * * *", help_text="Five-field cron: minute hour day-of-month month day-of-week."
    )
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    enabled = forms.BooleanField(required=False, initial=True)
    latency_ms = forms.FloatField(required=False, min_value=0, label="Latency threshold (ms)")
    latency_percentile = forms.TypedChoiceField(
        choices=PERCENTILES, coerce=int, initial=95, label="…measured at"
    )
    error_rate_percent = forms.FloatField(
        required=False, min_value=0, max_value=100, label="Error rate threshold (%)"
    )
    apdex_min = forms.FloatField(required=False, min_value=0, max_value=1, label="Minimum Apdex (0–1)")
    apdex_t_ms = forms.IntegerField(initial=DEFAULT_APDEX_T_MS, min_value=1, label="Apdex T (ms)")
    parameters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "placeholder": "BASE_URL=https://example.com"}),
        help_text="One NAME=value per line, passed to the tool's environment.",
    )
    location = forms.CharField(max_length=63, required=False, help_text="Run on an agent in this location (optional).")
    agent = forms.ChoiceField(required=False, label="Pinned agent", help_text="Wins over the location.")

    def __init__(self, *args, agents=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["script_text"].label = "…or edit the script"
        self.fields["agent"].choices = [("", "— any agent —")] + [
            (agent.pk, f"{agent.pk} ({agent.location or 'no location'})") for agent in agents
        ]
        self._agents = {agent.pk: agent for agent in agents}

    def clean_script_file(self):
        upload = self.cleaned_data.get("script_file")
        if upload is None:
            return None
        if upload.size > max_script_bytes():
            raise forms.ValidationError(f"A script may be at most {max_script_bytes()} bytes.")
        try:
            return upload.name, upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The script must be UTF-8 text.") from None

    def clean_parameters(self):
        params = parse_parameters(self.cleaned_data.get("parameters", ""))
        try:
            return clean_parameters(params)  # the rules the services (and the tool's environment) apply
        except InvalidSettings as exc:
            raise forms.ValidationError(_messages(exc.details()["parameters"])) from None

    def clean_agent(self):
        value = self.cleaned_data.get("agent")
        return self._agents.get(value) if value else None

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("script_file"), (cleaned.get("script_text") or "")
        if upload is None and not text.strip() and not self.editing and "script_file" not in self.errors:
            self.add_error("script_file", "Upload a script or paste one.")
        return cleaned

    def thresholds(self) -> dict:
        data, thresholds = self.cleaned_data, {}
        if data.get("latency_ms") is not None:
            thresholds["latencyMs"] = data["latency_ms"]
            thresholds["latencyPercentile"] = data["latency_percentile"]
        if data.get("error_rate_percent") is not None:
            thresholds["errorRatePercent"] = data["error_rate_percent"]
        if data.get("apdex_min") is not None:
            thresholds["apdexMin"] = data["apdex_min"]
        # The form has no fields for thresholds of one request name (set over /api): an edit keeps them.
        if self.initial.get("request_thresholds"):
            thresholds["requests"] = self.initial["request_thresholds"]
        return thresholds

    def service_fields(self) -> dict:
        """The keyword arguments of create_monitor / update_monitor this form stands for."""
        data = self.cleaned_data
        fields = {
            "name": data["name"],
            "tool": data["tool"],
            "schedule": data["schedule"],
            "timezone": data["timezone"].strip() or "UTC",
            "enabled": data["enabled"],
            "thresholds": self.thresholds(),
            "apdex_t_ms": data["apdex_t_ms"],
            "parameters": data["parameters"],
            "location": data["location"],
            "agent": data["agent"],
        }
        if data.get("script_file"):
            fields["script_filename"], fields["script"] = data["script_file"]
        elif self.script_changed():
            fields["script"] = _lf(data["script_text"])
        return fields

    def script_changed(self) -> bool:
        """Whether the textarea holds a new script: not empty and not the current one.

        Browsers send a textarea's line breaks as CRLF, so the edit form's
        prefilled script comes back with CRLF even when untouched; it is
        compared, and saved, with plain LF line breaks.
        """
        text = _lf(self.cleaned_data.get("script_text") or "")
        if not text.strip():
            return False
        return not (self.editing and text == _lf(self.initial.get("script_text") or ""))

    def add_service_errors(self, error) -> None:
        """Show a service's ValidationFailed (or Conflict) on the fields it names."""
        details = getattr(error, "details", None) or {}
        placed = False
        for field, messages in details.items():
            if field == "thresholds" and isinstance(messages, dict):
                # Per threshold key: each shows on the input it was typed in.
                for key, key_messages in messages.items():
                    self.add_error(THRESHOLD_FIELDS.get(key, "latency_ms"), _messages(key_messages))
                placed = True
                continue
            target = ERROR_FIELDS.get(field, field)
            if target in self.fields:
                self.add_error(target, _messages(messages))
                placed = True
        if not placed:
            self.add_error(None, error.message)

    @staticmethod
    def initial_for(monitor) -> dict:
        thresholds = monitor.thresholds or {}
        return {
            "name": monitor.name,
            "tool": monitor.test.tool,
            "schedule": monitor.schedule,
            "timezone": monitor.timezone,
            "enabled": monitor.enabled,
            "latency_ms": thresholds.get("latencyMs"),
            "latency_percentile": thresholds.get("latencyPercentile", 95),
            "error_rate_percent": thresholds.get("errorRatePercent"),
            "apdex_min": thresholds.get("apdexMin"),
            "request_thresholds": thresholds.get("requests"),
            "apdex_t_ms": monitor.apdex_t_ms,
            "parameters": format_parameters(monitor.parameters),
            "script_text": monitor.test.script,
            "location": monitor.location,
            "agent": monitor.agent_id or "",
        }


class AcknowledgeForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
