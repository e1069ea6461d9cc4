"""What the OpenAPI documents of both surfaces say about every operation alike.

A drf-spectacular postprocessing hook, so that a view cannot forget it: the
error envelope's answers every operation can give (401 where a credential is
needed, 400 where there is a body or a query to be wrong, 404 where the path
names an object, 413 and 415 where there is a body), and request bodies that
say they take no fields beyond those listed, as the views reject unknown
fields with a 400 (perfmon/api/common/fields.py). Schemathesis checks both
documents against the running API (tests/fuzz/).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}

ERROR_SCHEMA = {
    "type": "object",
    "description": "The error envelope of every non-2xx answer.",
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. not_found"},
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": {},
                    "description": "per-field messages (field -> list of strings, or nested objects)"},
    },
    "required": ["error", "message"],
}

MEANINGS = {
    400: "Invalid request (per-field messages in details)",
    401: "Missing, invalid, expired or revoked credential",
    404: "Not found (also for malformed ids and other tenants' objects)",
    413: "Request body too large",
    415: "Unsupported media type",
}


def _error(code: int) -> dict:
    return {"description": MEANINGS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _answers(operation: dict) -> set[int]:
    codes = set()
    parameters = operation.get("parameters", [])
    if any(requirement for requirement in operation.get("security", [])):
        codes.add(401)
    if "requestBody" in operation:
        codes |= {400, 413, 415}
    if any(parameter["in"] == "query" for parameter in parameters):
        codes.add(400)
    if any(parameter["in"] == "path" for parameter in parameters):
        codes.add(404)
    return codes


def envelope_answers(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    closed: set[str] = set()
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(_answers(operation)):
                responses.setdefault(str(code), _error(code))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    closed.add(ref.rsplit("/", 1)[1])
    for name in closed:
        if schemas.get(name, {}).get("type") == "object":
            schemas[name].setdefault("additionalProperties", False)
    return result


# PostgreSQL's bigint: the largest offset or sequence number a query can carry.
BIGINT_MAX = 2**63 - 1


def integer_query(name: str, minimum: int, maximum: int = BIGINT_MAX, description: str = "") -> OpenApiParameter:
    """A whole-number query parameter with the bounds the view enforces (outside them: a 400)."""
    return OpenApiParameter(name, {"type": "integer", "minimum": minimum, "maximum": maximum},
                            description=description)
