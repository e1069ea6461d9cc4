"""Serializer fields and input helpers shared by both API surfaces.

Generic on purpose: nothing here knows which facade (camelCase /api or
snake_case /api/v1) uses it. Every helper raises DRF's ValidationError with
per-field details, which the envelope handler turns into a 400.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from perfmon.core.errors import ValidationFailed
from perfmon.definitions.services import max_script_bytes
from runners import validation
from runners.errors import InvalidSettings
from runners.thresholds import LATENCY_PERCENTILES

# --- thresholds -----------------------------------------------------------
# The rules are runners/validation.py's, the same ones the services apply on every
# write; these helpers only turn its InvalidSettings into DRF's per-field error.


def _translated(clean, data):
    try:
        return clean(data)
    except InvalidSettings as exc:
        # {"latencyMs": [...]} per key, or [message] for the whole object, under the field's own name.
        raise serializers.ValidationError(exc.details()[exc.field]) from None


def clean_thresholds(data) -> dict[str, int | float]:
    """Validated thresholds: known keys, numbers in range; None values are dropped (unset).

    Raises ValidationError whose detail maps each bad key to its messages.
    """
    if data == "":
        return {}
    return _translated(validation.clean_thresholds, data)


# Each threshold may be null: unset, as if it were left out.
_LATENCY_MS = {"type": "number", "minimum": 0, "exclusiveMinimum": True,
               "maximum": validation.THRESHOLD_RANGES["latencyMs"][1], "nullable": True}
_ERROR_RATE = {"type": "number", "minimum": 0, "maximum": validation.THRESHOLD_RANGES["errorRatePercent"][1],
               "nullable": True}
_PERCENTILE = {"type": "integer", "enum": [*LATENCY_PERCENTILES, None], "nullable": True}


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "latencyMs": {**_LATENCY_MS, "description": "Breached when the chosen percentile (p95) exceeds it (ms)."},
            "errorRatePercent": {**_ERROR_RATE, "description": "Breached when errors exceed this % of requests."},
            "apdexMin": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True,
                         "description": "Breached when the run's Apdex falls below it (0..1)."},
            "latencyPercentile": {**_PERCENTILE, "description": "Percentile latencyMs is compared with (default 95)."},
            "requests": {
                "type": "object",
                "description": "Thresholds of one request name each, judged on that name's own figures: "
                               "{\"login\": {\"latencyMs\": 300, \"errorRatePercent\": 1}}.",
                "maxProperties": validation.MAX_REQUEST_THRESHOLDS,
                "nullable": True,
                "additionalProperties": {
                    "type": "object",
                    "properties": {"latencyMs": _LATENCY_MS, "errorRatePercent": _ERROR_RATE,
                                   "latencyPercentile": _PERCENTILE},
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    }
)
class ThresholdsField(serializers.Field):
    """An object of numeric thresholds (numeric strings accepted, as multipart sends them)."""

    default_error_messages = {"invalid": "Thresholds are an object of numbers."}

    def to_internal_value(self, data):
        return clean_thresholds(data)

    def to_representation(self, value):
        out = {}
        for key, raw in (value or {}).items():
            if key == "requests" and isinstance(raw, dict):
                out[key] = {str(name): self.to_representation(own) for name, own in raw.items()
                            if isinstance(own, dict)}
                continue
            try:
                out[key] = validation.json_number(key, validation.as_number(raw))
            except (TypeError, ValueError):
                continue  # never stored by the services; ignore rather than fail a read
        return out


# --- parameters -----------------------------------------------------------


def clean_parameters(data) -> dict[str, str]:
    """Validated parameters: names like environment variables, scalar values as strings."""
    if data == "":
        return {}
    return _translated(validation.clean_parameters, data)


@extend_schema_field({"type": "object", "maxProperties": validation.MAX_PARAMETERS,
                      "additionalProperties": {"anyOf": [
                          {"type": "string", "maxLength": validation.MAX_PARAMETER_VALUE},
                          {"type": "number"}, {"type": "boolean"},
                      ], "description": "numbers and booleans are passed as their text"}})
class ParametersField(serializers.Field):
    """An object of parameter names to string values (the tool's environment)."""

    def to_internal_value(self, data):
        return clean_parameters(data)

    def to_representation(self, value):
        return {str(key): str(val) for key, val in (value or {}).items()}


# --- distribution ---------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "description": "Split each run over several agents (docs/distributed.md): {\"agents\": N} or "
                       "{\"locations\": {\"eu-west-1\": 60, \"us-east-1\": 40}, \"agentsPerLocation\": 1}; "
                       "null runs on one agent.",
        "properties": {
            "agents": {"type": "integer", "minimum": 1, "description": "N distinct agents, equal shares"},
            "locations": {"type": "object", "additionalProperties": {"type": "number"},
                          "description": "percent of the load per location, summing to 100"},
            "agentsPerLocation": {"type": "integer", "minimum": 1, "description": "agents in each location"},
        },
        "additionalProperties": False,
    }
)
class DistributionField(serializers.Field):
    """How a run is split over agents; null (or "" from a form) is one agent."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data == "":
            return None
        return _translated(lambda value: validation.clean_distribution(
            value, max_parts=settings.PERFMON_SPLIT_MAX_PARTS), data)

    def to_representation(self, value):
        return value or None


# --- scripts --------------------------------------------------------------


def _too_big(size: int, limit: int) -> serializers.ValidationError:
    return serializers.ValidationError(f"The script is {size} bytes; at most {limit} bytes are allowed.")


def clean_script_text(text, *, limit: int | None = None) -> str:
    """A script given as text: not blank, not over the size limit (counted in UTF-8 bytes)."""
    limit = max_script_bytes() if limit is None else limit
    if not isinstance(text, str):
        raise serializers.ValidationError("The script must be text.")
    if not text.strip():
        raise serializers.ValidationError("The script is empty.")
    size = len(text.encode("utf-8"))
    if size > limit:
        raise _too_big(size, limit)
    if "\x00" in text:
        raise serializers.ValidationError("The script must be text, not binary data.")
    return text


_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def decode_base64_script(value, *, limit: int | None = None) -> str:
    """The UTF-8 script that ``value`` (standard base64, padded, whitespace allowed) encodes.

    Strict: characters outside the base64 alphabet or wrong padding are
    rejected rather than silently skipped. The size is checked before
    decoding so a huge value is never decoded.
    """
    limit = max_script_bytes() if limit is None else limit
    if not isinstance(value, str):
        raise serializers.ValidationError("scriptContent is a base64 string.")
    compact = "".join(value.split())  # line-wrapped base64 (76 columns) is common
    if not compact:
        raise serializers.ValidationError("The script is empty.")
    if len(compact) % 4 or not _BASE64.match(compact):
        raise serializers.ValidationError("Not valid base64 (standard alphabet, with padding).")
    decoded_size = len(compact) // 4 * 3 - compact[-2:].count("=")
    if decoded_size > limit:
        raise _too_big(decoded_size, limit)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise serializers.ValidationError("Not valid base64 (standard alphabet, with padding).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise serializers.ValidationError("The decoded script is not UTF-8 text.") from None
    return clean_script_text(text, limit=limit)


def read_script_upload(upload: UploadedFile, *, limit: int | None = None) -> tuple[str, str]:
    """(text, file name) of an uploaded script; checks the size before reading it."""
    limit = max_script_bytes() if limit is None else limit
    if upload.size is not None and upload.size > limit:
        raise _too_big(upload.size, limit)
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise _too_big(len(raw), limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise serializers.ValidationError("The uploaded script is not UTF-8 text.") from None
    return clean_script_text(text, limit=limit), safe_filename(upload.name or "")


def safe_filename(name: str) -> str:
    """The last path component of a client-supplied file name, without control characters."""
    base = os.path.basename(name.replace("\\", "/"))
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:255]


@extend_schema_field(OpenApiTypes.BYTE)
class Base64ScriptField(serializers.Field):
    """A script sent as base64 (JSON bodies); validated as UTF-8 text within the size limit."""

    def to_internal_value(self, data):
        return decode_base64_script(data)

    def to_representation(self, value):
        return base64.b64encode((value or "").encode("utf-8")).decode("ascii")


class ScriptUploadField(serializers.FileField):
    """A script uploaded as a file (multipart); the internal value is ``(text, file name)``."""

    def to_internal_value(self, data):
        upload = super().to_internal_value(data)
        return read_script_upload(upload)


# --- query values -----------------------------------------------------------

_INTEGER = re.compile(r"-?[0-9]+")


def ascii_integer(text: str) -> int | None:
    """``text`` as a whole number written in ASCII digits (a leading minus allowed), else None.

    ``str.isdigit`` is true for "²" and "٣", which ``int`` then refuses or reads; a query
    value is only ever an ASCII number.
    """
    return int(text) if _INTEGER.fullmatch(text) else None


# --- request bodies -------------------------------------------------------

_BRACKETS = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_]*)(?P<keys>(?:\[[^\[\]]+\])+)$")
_KEY = re.compile(r"\[([^\[\]]+)\]")
# Form fields a browser or DRF's browsable API adds to every form.
FORM_NOISE = frozenset({"csrfmiddlewaretoken"})


def form_to_dict(data) -> dict:
    """A plain dict from a request body: form bracket keys become nested objects.

    ``thresholds[latencyMs]=2000`` becomes ``{"thresholds": {"latencyMs": "2000"}}`` and
    ``distribution[locations][eu-west-1]=60`` ``{"distribution": {"locations": {"eu-west-1": "60"}}}``;
    a key given twice keeps its last value. JSON bodies (already dicts) are
    returned as they are; a JSON body that is not an object is rejected.
    """
    if isinstance(data, QueryDict):
        out: dict = {}
        for key in data:
            if key in FORM_NOISE:
                continue
            value = data.getlist(key)[-1]
            match = _BRACKETS.match(key)
            if match:
                *path, last = [match["field"], *_KEY.findall(match["keys"])]
                nested = out
                for name in path:
                    nested = nested.setdefault(name, {})
                    if not isinstance(nested, dict):
                        raise serializers.ValidationError({match["field"]: ["Given both as a value and as an object."]})
                if isinstance(nested.get(last), dict):
                    raise serializers.ValidationError({match["field"]: ["Given both as a value and as an object."]})
                nested[last] = value
            else:
                if isinstance(out.get(key), dict):
                    raise serializers.ValidationError({key: ["Given both as a value and as an object."]})
                out[key] = value
        return out
    if isinstance(data, Mapping):
        return dict(data)
    raise serializers.ValidationError({"non_field_errors": ["The request body must be a JSON object."]})


def reject_unknown_fields(data: Mapping, allowed) -> None:
    """400 naming every field of ``data`` that is not in ``allowed`` (a typo must not pass silently)."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationFailed(
            f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            details={name: ["Unknown field."] for name in unknown},
        )


# What a JSON value of each field kind must be (bool is an int to Python, but not to JSON Schema).
_JSON_KINDS: tuple[tuple[type, tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "a boolean"),
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.CharField, (str,), "a string"),
    (serializers.UUIDField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "a string"),
)


def reject_wrong_json_types(fields: Mapping, data: Mapping) -> None:
    """400 naming every field of a JSON body whose value is not of the JSON type the schema gives it.

    DRF would coerce ``"location": 0`` into ``"0"`` and ``"apdexT": "500"`` into 500; the
    documents say string and integer, and a client sending the other is mistaken, so it is
    told. Form bodies are all text and keep DRF's conversions. ``null`` is left to the field.
    """
    errors = {}
    for name, value in data.items():
        field = fields.get(name)
        if field is None or value is None or getattr(field, "read_only", False):
            continue
        if isinstance(field, ThresholdsField):
            errors.update(_threshold_json_types(name, value))
            continue
        kinds = next(((types, what) for kind, types, what in _JSON_KINDS if isinstance(field, kind)), None)
        if isinstance(field, serializers.ChoiceField) and all(isinstance(key, str) for key in field.choices):
            kinds = ((str,), "a string")
        if kinds is None:
            continue
        types, what = kinds
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            errors[name] = [f"Must be {what}."]
    if errors:
        raise serializers.ValidationError(errors)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _threshold_json_types(name: str, thresholds) -> dict:
    """A JSON body's thresholds are numbers, not numeric strings (``{"latencyMs": "300"}`` is a form's way);
    the problems nested as the thresholds' own are: ``{"thresholds": {"latencyMs": [...]}}``."""
    if not isinstance(thresholds, Mapping):
        return {}
    errors: dict = {}
    for key, value in thresholds.items():
        if key == "requests" and isinstance(value, Mapping):
            for request, own in value.items():
                if isinstance(own, Mapping):
                    errors.update({f"requests.{request}.{k}": ["Must be a number."]
                                   for k, v in own.items() if v is not None and not _is_number(v)})
        elif key != "requests" and value is not None and not _is_number(value):
            errors[str(key)] = ["Must be a number."]
    return {name: errors} if errors else {}
