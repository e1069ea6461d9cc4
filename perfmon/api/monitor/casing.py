"""camelCase on the wire of /api, snake_case in its serializers and views.

The renderer camelizes every key of an answer except below the fields whose
keys are data rather than field names (DATA_KEYED). The parsers convert
only the top-level names of a request body (in a form, the part before
``[key]``): everything nested in an /api request is data (thresholds,
parameters). The schema class shows the same names, so the OpenAPI
document and the wire agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from drf_spectacular.openapi import AutoSchema
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from perfmon.api.common.casing import camel, is_camel, snake
from perfmon.api.common.fields import reject_unknown_fields

# Fields whose keys are data, rendered exactly as stored or built: parameter names
# (api_token), threshold keys, an alert's details (its worst p95_ms), the error
# envelope's details (which name fields as the client sent them), tools, statuses, and a
# distribution (location names; stored as /api writes it, agentsPerLocation included).
DATA_KEYED = frozenset({"parameters", "thresholds", "details", "tools", "by_status", "status_codes", "distribution"})


def camel_keys(data):
    """``data`` with every key in camelCase, except inside DATA_KEYED fields."""
    if isinstance(data, Mapping):
        out = {}
        for key, value in data.items():
            if not isinstance(key, str):
                out[key] = camel_keys(value)
            else:
                out[camel(key)] = value if snake(key) in DATA_KEYED else camel_keys(value)
        return out
    if isinstance(data, list | tuple):
        return [camel_keys(item) for item in data]
    return data


def camel_errors(detail: Mapping) -> dict:
    """A serializer's per-field errors under the fields' wire names (``non_field_errors`` as DRF names it)."""
    return {key if key == api_settings.NON_FIELD_ERRORS_KEY else camel(key): value for key, value in detail.items()}


def snake_fields(data):
    """A parsed body with its top-level names in snake_case.

    A name that no camelCase field can have (``agent_id``, ``Name``) is a 400
    here, under the name as sent: converted, it would pass for the field it resembles.
    """
    if not isinstance(data, Mapping):
        return data  # a JSON array or scalar: the view refuses it
    foreign = []

    def name(key: str) -> str:
        field, bracket, rest = key.partition("[")  # thresholds[latencyMs]: the key is data
        if not is_camel(field):
            foreign.append(key)
        return snake(field) + bracket + rest

    if isinstance(data, MultiValueDict):  # form fields and files may repeat
        out = QueryDict(mutable=True) if isinstance(data, QueryDict) else MultiValueDict()
        for key, values in data.lists():
            out.setlist(name(key), values)
    else:
        out = {name(key): value for key, value in data.items()}
    reject_unknown_fields(dict.fromkeys(foreign), ())
    return out


class CamelCaseJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        return super().render(camel_keys(data), accepted_media_type, renderer_context)


class CamelCaseJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return snake_fields(super().parse(stream, media_type, parser_context))


class CamelCaseFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return snake_fields(super().parse(stream, media_type, parser_context))


class CamelCaseMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        return DataAndFiles(snake_fields(parsed.data), snake_fields(parsed.files))


# JSON, multipart/form-data with bracket keys and a script file, or a urlencoded form.
BODY_PARSERS = [CamelCaseJSONParser, CamelCaseMultiPartParser, CamelCaseFormParser]


class CamelCaseAutoSchema(AutoSchema):
    """Each serializer's fields under the names the renderer and parsers put on the wire."""

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        # Every serializer component passes here, nested ones included; the schemas of
        # data-keyed fields (thresholds, parameters, maps) are not serializers and keep their keys.
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if "properties" in schema:
            schema["properties"] = {camel(name): value for name, value in schema["properties"].items()}
        if "required" in schema:
            schema["required"] = [camel(name) for name in schema["required"]]
        return schema
