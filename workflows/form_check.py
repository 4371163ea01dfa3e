"""Check a submitted form against its step's schema, inside the workflow.

Forms use the vocabulary that ``sopflow.language.form_schema`` checks fast (lint refuses any other
keyword in a form), so this small, deterministic validator covers every form exactly, with no
I/O and no third-party code in the Temporal sandbox. Its verdict is the one
``jsonschema.Draft202012Validator`` gives with the format checker of
``sopflow.language.input_check`` (tests/test_form_check_differential.py checks that).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from fractions import Fraction
from typing import Any

from sopflow.contract.formats import ASSERTED_FORMATS


def json_key(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value: two values get the same key exactly when JSON Schema
    calls them equal (for ``enum``, ``const`` and ``uniqueItems``). A boolean is never a number
    (``true != 1``), numbers compare by value (``1 == 1.0``), objects by their members whatever
    their order, arrays element by element."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        # An integral float is the integer it names (exactly: int(2.0**60) == 2**60).
        return ("number", int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, list):
        return ("array", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, json_key(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def json_equal(one: Any, two: Any) -> bool:
    """Whether two JSON values are equal as JSON Schema defines it (see ``json_key``)."""
    return json_key(one) == json_key(two)


def _type_ok(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return False


def _format_ok(value: str, fmt: str) -> bool:
    check = ASSERTED_FORMATS.get(fmt)
    return check is None or check(value)


def _multiple_of(value: int | float, step: int | float) -> bool:
    """As jsonschema decides it: by float division for a float step, else exactly."""
    if isinstance(step, float):
        try:
            quotient = value / step
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(step)).denominator == 1
    return value % step == 0


def form_errors(schema: Any, value: Any, path: str = "") -> list[str]:
    """Every reason ``value`` fails ``schema``, as ``path: reason``; empty when it passes."""
    where = path or "the form"
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{where}: no value is allowed here"]
    if not isinstance(schema, dict):
        return []
    out: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(value, n) for n in names):
            return [f"{where}: must be {' or '.join(names)}"]
    if "enum" in schema and not any(json_equal(value, e) for e in schema["enum"]):
        out.append(f"{where}: must be one of {schema['enum']}")
    if "const" in schema and not json_equal(value, schema["const"]):
        out.append(f"{where}: must be {schema['const']!r}")
    if "not" in schema and not form_errors(schema["not"], value, path):
        out.append(f"{where}: must not match {schema['not']}")
    if isinstance(value, str):
        out += _string_errors(schema, value, where)
    if isinstance(value, int | float) and not isinstance(value, bool):
        out += _number_errors(schema, value, where)
    if isinstance(value, list):
        out += _array_errors(schema, value, path, where)
    if isinstance(value, dict):
        out += _object_errors(schema, value, path)
    return out


def _string_errors(schema: dict[str, Any], value: str, where: str) -> list[str]:
    out = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(f"{where}: must have at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(f"{where}: must have at most {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{where}: must match {schema['pattern']!r}")
    if "format" in schema and not _format_ok(value, schema["format"]):
        out.append(f"{where}: must be a valid {schema['format']}")
    return out


def _number_errors(schema: dict[str, Any], value: float, where: str) -> list[str]:
    out = []
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{where}: must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{where}: must be at most {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        out.append(f"{where}: must be more than {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        out.append(f"{where}: must be less than {schema['exclusiveMaximum']}")
    if "multipleOf" in schema and not _multiple_of(value, schema["multipleOf"]):
        out.append(f"{where}: must be a multiple of {schema['multipleOf']}")
    return out


def _array_errors(schema: dict[str, Any], value: list[Any], path: str, where: str) -> list[str]:
    out = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(f"{where}: must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(f"{where}: must have at most {schema['maxItems']} items")
    if schema.get("uniqueItems") and len({json_key(v) for v in value}) != len(value):
        out.append(f"{where}: items must be unique")
    if "items" in schema:
        for i, item in enumerate(value):
            out += form_errors(schema["items"], item, f"{path}[{i}]")
    return out


def _object_errors(schema: dict[str, Any], value: dict[str, Any], path: str) -> list[str]:
    out = []
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            out.append(f"{_join(path, name)}: is required")
    for name, item in value.items():
        if name in properties:
            out += form_errors(properties[name], item, _join(path, name))
        elif schema.get("additionalProperties") is False:
            out.append(f"{_join(path, name)}: is not a field of this form")
        elif isinstance(schema.get("additionalProperties"), dict):
            out += form_errors(schema["additionalProperties"], item, _join(path, name))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        out.append(f"{path or 'the form'}: must have at least {schema['minProperties']} fields")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(f"{path or 'the form'}: must have at most {schema['maxProperties']} fields")
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
