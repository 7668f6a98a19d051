"""The OpenAPI document as the single source of truth: the mock validates request bodies with it and
the tests validate responses with it, so the document and the app cannot drift apart."""

from __future__ import annotations

import copy
import functools
import re
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
EMAIL_RE = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(EMAIL_RE.match(value))


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@functools.cache
def load_spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def _resolve(node: Any, spec: dict[str, Any]) -> Any:
    """Inline every ``$ref`` and turn OpenAPI 3.0 ``nullable`` into JSON Schema's ``null`` type."""
    if isinstance(node, list):
        return [_resolve(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _resolve(copy.deepcopy(target), spec)
    out = {key: _resolve(value, spec) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "enum" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (method, path, resolved operation)."""
    spec = load_spec()
    found = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            found[op["operationId"]] = (method.upper(), path, _resolve(op, spec))
    return found


def request_schema(operation_id: str) -> dict[str, Any]:
    op = operations()[operation_id][2]
    return op["requestBody"]["content"]["application/json"]["schema"]


def response_schema(operation_id: str, status: int) -> dict[str, Any]:
    op = operations()[operation_id][2]
    return op["responses"][str(status)]["content"]["application/json"]["schema"]


def first_error(schema: dict[str, Any], instance: Any) -> tuple[str, str | None] | None:
    """The most relevant validation error as (message, field), or None when the instance is valid."""
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        field = ".".join(filter(None, [path, missing[0]]))
        return f"{field}: is required", field
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        field = ".".join(filter(None, [path, extra[0]]))
        return f"{field}: unknown field (allowed: {', '.join(sorted(allowed))})", field
    if error.validator == "format":
        return f"{path}: {error.instance!r} is not a valid {error.validator_value}", path or None
    if not path:
        return f"request body: {error.message}", None
    return f"{path}: {error.message}", path
