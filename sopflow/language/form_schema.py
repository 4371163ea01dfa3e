"""A fast, exact check of the JSON Schemas that SOP forms and inputs are made of.

Checking a schema against the 2020-12 meta-schema costs about a millisecond with
``jsonschema`` (it resolves the meta-schema's dynamic references on every call), which made
it most of a lint's time. Forms use a small vocabulary: ``type``, ``properties``,
``required``, ``enum``, ``items``, bounds, ``pattern``, ``format`` and annotations. For a
schema that uses only that vocabulary this module checks exactly what the meta-schema
checks; a schema using anything else falls back to the full ``jsonschema`` check, so no
schema is ever judged by a weaker rule.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

_TYPES = {"array", "boolean", "integer", "null", "number", "object", "string"}
SchemaPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """What is wrong with a schema, and where (a path inside the schema). ``kind`` says what
    ``path`` ends at: ``invalid``, a value that is not valid JSON Schema; ``unknown_keyword``,
    a keyword JSON Schema does not define; ``not_in_forms``, a valid keyword that task forms
    do not support."""

    path: SchemaPath
    message: str
    kind: Literal["invalid", "unknown_keyword", "not_in_forms"] = "invalid"


class _UnsupportedError(Exception):
    """The schema uses a keyword outside the fast vocabulary."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_type(value: Any) -> str | None:
    names = value if isinstance(value, list) else [value]
    if isinstance(value, list) and (not value or len(set(map(str, value))) != len(value)):
        return f"{value!r} is not valid under any of the given schemas"
    for name in names:
        if not isinstance(name, str) or name not in _TYPES:
            return f"{name!r} is not valid under any of the given schemas"
    return None


def _check_pattern(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{value!r} is not of type 'string'"
    try:
        re.compile(value)
    except re.error:
        return f"{value!r} is not a 'regex'"
    return None


def _check_required(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"{value!r} is not of type 'array' of strings"
    if len(set(value)) != len(value):
        return f"{value!r} has non-unique elements"
    return None


def _check_enum(value: Any) -> str | None:
    return None if isinstance(value, list) else f"{value!r} is not of type 'array'"


def _scalar_rule(test: Callable[[Any], bool], what: str) -> Callable[[Any], str | None]:
    return lambda value: None if test(value) else f"{value!r} is not of type '{what}'"


_SCALAR_KEYWORDS: dict[str, Callable[[Any], str | None]] = {
    "type": _check_type,
    "required": _check_required,
    "enum": _check_enum,
    "pattern": _check_pattern,
    "const": lambda value: None,
    "default": lambda value: None,
    "examples": _scalar_rule(lambda v: isinstance(v, list), "array"),
    "title": _scalar_rule(lambda v: isinstance(v, str), "string"),
    "description": _scalar_rule(lambda v: isinstance(v, str), "string"),
    "format": _scalar_rule(lambda v: isinstance(v, str), "string"),
    "$comment": _scalar_rule(lambda v: isinstance(v, str), "string"),
    "uniqueItems": _scalar_rule(lambda v: isinstance(v, bool), "boolean"),
    "readOnly": _scalar_rule(lambda v: isinstance(v, bool), "boolean"),
    "writeOnly": _scalar_rule(lambda v: isinstance(v, bool), "boolean"),
    "deprecated": _scalar_rule(lambda v: isinstance(v, bool), "boolean"),
    "minimum": _scalar_rule(_is_number, "number"),
    "maximum": _scalar_rule(_is_number, "number"),
    "exclusiveMinimum": _scalar_rule(_is_number, "number"),
    "exclusiveMaximum": _scalar_rule(_is_number, "number"),
    "multipleOf": _scalar_rule(lambda v: _is_number(v) and v > 0, "number > 0"),
    "minLength": _scalar_rule(_non_negative_int, "non-negative integer"),
    "maxLength": _scalar_rule(_non_negative_int, "non-negative integer"),
    "minItems": _scalar_rule(_non_negative_int, "non-negative integer"),
    "maxItems": _scalar_rule(_non_negative_int, "non-negative integer"),
    "minProperties": _scalar_rule(_non_negative_int, "non-negative integer"),
    "maxProperties": _scalar_rule(_non_negative_int, "non-negative integer"),
}
_SCHEMA_KEYWORDS = ("items", "additionalProperties", "not")
# The rest of JSON Schema 2020-12 (and two draft-7 names still in wide use): valid, but
# checked by the full meta-schema check.
_OTHER_KEYWORDS = frozenset(
    (
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "allOf",
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "prefixItems",
        "contains",
        "patternProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "maxContains",
        "minContains",
        "dependentRequired",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "definitions",
        "dependencies",
    )
)
_KNOWN = sorted({*_SCALAR_KEYWORDS, *_SCHEMA_KEYWORDS, "properties", *_OTHER_KEYWORDS})
_KNOWN_SET = frozenset(_KNOWN)


def _walk(schema: Any, path: SchemaPath) -> SchemaProblem | None:
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return SchemaProblem(path, f"{schema!r} is not of type 'object', 'boolean'")
    for key, value in schema.items():
        if key in _SCALAR_KEYWORDS:
            message = _SCALAR_KEYWORDS[key](value)
            if message:
                return SchemaProblem((*path, key), message)
        elif key in _SCHEMA_KEYWORDS:
            found = _walk(value, (*path, key))
            if found:
                return found
        elif key == "properties":
            if not isinstance(value, dict):
                return SchemaProblem((*path, key), f"{value!r} is not of type 'object'")
            for name, sub in value.items():
                found = _walk(sub, (*path, key, name))
                if found:
                    return found
        elif key in _OTHER_KEYWORDS:
            raise _UnsupportedError(key)
        elif not key.startswith("x-"):
            # JSON Schema ignores unknown keywords, so a typo (`requird`) or a stray comma in
            # a flow mapping would silently weaken the form; extensions are spelt `x-...`.
            return _unknown(key, path, value)
    return None


def _unknown(key: str, path: SchemaPath, value: Any) -> SchemaProblem:
    if _looks_like_a_field(value):
        # A form field written at the wrong indentation (inside another field, or beside
        # `properties:`) reads as a keyword; a near keyword (`notes` ~ `not`) would mislead.
        message = (
            f"`{key}` is not a JSON Schema keyword: it looks like a form field at the wrong "
            "indentation (one level too deep or too shallow); fields go under `properties:`, "
            "each beside the others"
        )
        return SchemaProblem((*path, key), message, "unknown_keyword")
    close = difflib.get_close_matches(key, _KNOWN, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    message = f"unknown keyword `{key}`{hint}; name extensions `x-...`"
    return SchemaProblem((*path, key), message, "unknown_keyword")


def _looks_like_a_field(value: Any) -> bool:
    """A mapping of schema keywords (``{type: string}``): what a form field's schema is."""
    return isinstance(value, dict) and bool(value) and any(k in _KNOWN_SET for k in value)


@lru_cache(maxsize=4096)
def _full_check_cached(canonical: str) -> SchemaProblem | None:
    try:
        Draft202012Validator.check_schema(json.loads(canonical))
    except SchemaError as exc:
        return SchemaProblem(tuple(exc.path), exc.message)
    return None


FORM_VOCABULARY = sorted({*_SCALAR_KEYWORDS, *_SCHEMA_KEYWORDS, "properties"})


def form_problem(schema: dict[str, Any]) -> SchemaProblem | None:
    """Like ``schema_problem``, for a task form: forms are checked inside the workflow, which
    supports the fast vocabulary only, so any other keyword is refused here."""
    try:
        return _walk(schema, ())
    except _UnsupportedError as exc:
        keyword = str(exc)
        message = (
            f"`{keyword}` is not supported in a task form (forms are checked inside the "
            f"workflow); use: {', '.join(k for k in FORM_VOCABULARY if not k.startswith('$'))}"
        )
        return SchemaProblem(_find_keyword(schema, keyword, ()) or (), message, "not_in_forms")


def _find_keyword(schema: Any, keyword: str, path: SchemaPath) -> SchemaPath | None:
    if isinstance(schema, dict):
        if keyword in schema:
            return (*path, keyword)
        for key, value in schema.items():
            found = _find_keyword(value, keyword, (*path, key))
            if found:
                return found
    return None


_SUB_ONE = (
    *("items", "additionalProperties", "not", "if", "then", "else", "contains"),
    *("propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema"),
)
_SUB_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUB_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


def _unknown_keyword(schema: Any, path: SchemaPath) -> SchemaProblem | None:
    """The first keyword JSON Schema does not define, anywhere a subschema stands."""
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in _KNOWN_SET and not key.startswith("x-"):
            return _unknown(key, path, value)
        found = None
        if key in _SUB_ONE:
            found = _unknown_keyword(value, (*path, key))
        elif key in _SUB_MAP and isinstance(value, dict):
            for name, sub in value.items():
                found = found or _unknown_keyword(sub, (*path, key, name))
        elif key in _SUB_LIST and isinstance(value, list):
            for i, sub in enumerate(value):
                found = found or _unknown_keyword(sub, (*path, key, i))
        if found:
            return found
    return None


def schema_problem(schema: dict[str, Any]) -> SchemaProblem | None:
    """What is wrong, and where, when ``schema`` is not a valid 2020-12 JSON Schema."""
    try:
        return _walk(schema, ())
    except _UnsupportedError:
        canonical = json.dumps(schema, sort_keys=True)
        return _full_check_cached(canonical) or _unknown_keyword(schema, ())
