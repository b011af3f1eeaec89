"""JSON Schema checks for tool parameters, tool-call arguments and structured answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raises ValueError for a tool schema that is not valid JSON Schema."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"invalid JSON Schema: {error.message}") from error


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def validation_errors(value: object, schema: Mapping[str, Any]) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    found = []
    for error in validator.iter_errors(value):
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        found.append(f"{where}: {error.message}")
    return sorted(found)
