"""Find the JSON Schema of any field in a document, and say its type in words.

The schema is the one ``sopflow schema`` prints (generated from the models), so a hover
never says something the validator does not enforce. Unions are resolved against the data
actually written: a step's schema by its ``type``, a variant change by its one key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from sopflow.language.durations import DURATION_PATTERN
from sopflow.language.models.common import ROLE_PATTERN
from sopflow.language.schema import document_schema
from sopflow.language.yaml_source import JsonPath
from sopflow.lsp.cursor import value_at

Schema = dict[str, Any]


@cache
def _schema() -> Schema:
    return document_schema()


def _resolve(node: Schema) -> Schema:
    """``node`` with its ``$ref`` followed (the models' schemas nest only by reference)."""
    seen = 0
    while "$ref" in node and seen < 20:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        node = _schema()["$defs"].get(name, {})
        seen += 1
    return node


def _fits(node: Schema, data: Any) -> bool:
    """Whether a union branch could describe ``data`` (by JSON type and, for objects, by
    the keys written)."""
    node = _resolve(node)
    kind = node.get("type")
    if isinstance(data, dict):
        props = node.get("properties", {})
        return kind == "object" and (not props or all(k in props for k in data))
    if isinstance(data, list):
        return kind == "array"
    if data is None:
        return kind == "null"
    return kind not in ("object", "array", "null")


def _pick(node: Schema, data: Any) -> Schema:
    """The branch of a union that describes ``data``; the node itself when not a union."""
    node = _resolve(node)
    mapping = node.get("discriminator", {}).get("mapping", {})
    prop = node.get("discriminator", {}).get("propertyName")
    if mapping and isinstance(data, dict) and data.get(prop) in mapping:
        return _resolve({"$ref": mapping[data[prop]]})
    branches = node.get("oneOf") or node.get("anyOf")
    if not branches:
        return node
    fitting = [b for b in branches if _fits(b, data)]
    chosen = fitting[0] if fitting else next((b for b in branches if b.get("type") != "null"), {})
    return _resolve(chosen)


def _child(node: Schema, data: Any, part: str | int) -> tuple[Schema | None, bool]:
    """The schema of ``part`` of ``node`` (holding ``data``), and whether ``part`` is a name
    the author chose (an entry of a map) rather than a field."""
    node = _pick(node, data)
    if isinstance(part, int):
        items = node.get("items")
        return (items if isinstance(items, dict) else None), False
    props = node.get("properties", {})
    if part in props:
        return dict(props[part]), False
    for pattern, sub in node.get("patternProperties", {}).items():
        if re.search(pattern, part):
            return dict(sub), True
    extra = node.get("additionalProperties")
    return (dict(extra) if isinstance(extra, dict) else None), True


def root_schema(kind: str) -> Schema | None:
    """The schema of a document of ``kind`` (``SOP``, ``Variant``, ...)."""
    ref = _schema()["discriminator"]["mapping"].get(kind)
    return _resolve({"$ref": ref}) if ref else None


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A field's schema (as written on its property), and whether its parent requires it."""

    name: str
    schema: Schema
    required: bool
    # For a key whose name is the author's (a role under `roles`): the field it is in.
    entry_of: str | None = None


def field_info(data: dict[str, Any], path: JsonPath) -> FieldInfo | None:
    """The schema of the field whose key is at ``path`` in a document holding ``data``."""
    node = root_schema(str(data.get("kind", "")))
    if node is None or not path:
        return None
    entry = False
    for depth, part in enumerate(path):
        parent = node
        found, entry = _child(node, value_at(data, path[:depth]), part)
        if found is None:
            return None
        node = found
    owner = _pick(parent, value_at(data, path[:-1]))
    required = path[-1] in owner.get("required", [])
    entry_of = str(path[-2]) if entry and len(path) > 1 else None
    return FieldInfo(str(path[-1]), node, required, entry_of)


def description(node: Schema) -> str:
    """The field's own description, else that of the model or type it refers to (a step
    field typed as a CEL expression says so)."""
    for branch in [node, *(node.get("anyOf") or node.get("oneOf") or [])]:
        text = _resolve(branch).get("description")
        if text:
            return " ".join(str(text).split())
    return ""


def _scalar_text(node: Schema) -> str:
    kind = node.get("type")
    if kind == "string":
        if node.get("pattern") == DURATION_PATTERN:
            return "duration (30s, 15m, 4h, 3d, 2w, PT15M)"
        if node.get("format") == "date-time":
            return "instant (ISO 8601 with its UTC offset)"
        if node.get("description") == "A CEL expression":
            return "CEL expression"
        if node.get("pattern") == ROLE_PATTERN:  # role names and step ids alike
            return "name (a-z, 0-9, `_`, `-`)"
        return f"text matching `{node['pattern']}`" if "pattern" in node else "text"
    bounds = [f"≥ {node['minimum']}"] if "minimum" in node else []
    bounds += [f"≤ {node['maximum']}"] if "maximum" in node else []
    names = {"integer": "whole number", "number": "number", "boolean": "true or false"}
    name = names.get(str(kind), str(kind or "any"))
    return f"{name} {', '.join(bounds)}".strip()


def type_text(node: Schema, depth: int = 0) -> str:
    """The type of ``node`` in a few words, e.g. ``duration | SlaClock`` or ``list of text``."""
    if depth > 4:
        return "…"
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        parts = [type_text(b, depth + 1) for b in branches if b.get("type") != "null"]
        return " | ".join(dict.fromkeys(parts))
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " | ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if node.get("type") == "array":
        return f"list of {type_text(node.get('items', {}), depth + 1)}"
    if node.get("type") == "object":
        values = [*node.get("patternProperties", {}).values()]
        extra = node.get("additionalProperties")
        values += [extra] if isinstance(extra, dict) else []
        if values:
            return f"map of name → {type_text(values[0], depth + 1)}"
        return "object"
    return _scalar_text(node)
