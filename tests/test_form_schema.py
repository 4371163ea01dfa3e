"""The fast form-schema check agrees with jsonschema's full meta-schema check."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sopflow.language.form_schema import schema_problem

pytestmark = pytest.mark.unit

CASES: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}},
    {"type": ["string", "null"], "enum": ["a", None]},
    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
    {"type": "object", "required": ["a"], "additionalProperties": False},
    {"type": "strin"},
    {"type": ["string", "string"]},
    {"type": []},
    {"type": {}},
    {"required": "a"},
    {"required": ["a", "a"]},
    {"minItems": -1},
    {"minItems": 1.5},
    {"pattern": "("},
    {"properties": {"a": None}},
    {"properties": []},
    {"items": 3},
    {"enum": "x"},
    {"multipleOf": 0},
    {"uniqueItems": "yes"},
    {"description": 5},
    # Outside the fast vocabulary: judged by the full check.
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"oneOf": 5},
    {"prefixItems": [{"type": "string"}]},
]


@pytest.mark.parametrize("schema", CASES, ids=[str(i) for i in range(len(CASES))])
def test_agrees_with_the_meta_schema(schema: dict[str, Any]) -> None:
    # As check_schema does: the meta-schema, with format checks (a pattern must be a regex).
    meta = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    full_ok = meta.is_valid(schema)
    fast = schema_problem(schema)
    assert (fast is None) == full_ok, fast
