"""Hover text: a field's type and description from the JSON Schema, with the authoring
guide's row for it; a step type's description, its fields and its section of the guide."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pygls.workspace.position_codec import ServerTextPosition

from sopflow.language.models.steps import STEP_MODELS, step_fields
from sopflow.language.yaml_source import JsonPath, SourceDoc
from sopflow.lsp.cursor import hit_at, value_at
from sopflow.lsp.guide import Guide, Row, intro, load_guide
from sopflow.lsp.schema_docs import description, field_info, type_text

# Where the guide documents the fields of each kind of document (section, then chapter).
_PLACES = {
    "SOP": ["`kind: SOP`", "2. Documents and fields", "9. Publishing"],
    "Variant": ["7. Regional variants"],
    "DisclosurePolicy": ["8. Disclosure policies"],
    "Rehearsal": ["10. Rehearsals"],
    "Regions": ["`kind: Regions`"],
    "Roster": ["`kind: Roster`"],
}


def hover_text(
    doc: SourceDoc, pos: ServerTextPosition, step_types: Mapping[str, str] | None = None
) -> str | None:
    """Markdown for what is under ``pos``: a key's field, or a step's ``type`` value.
    ``step_types`` (step id -> type) says what a variant's ``set`` changes, as the base
    SOP declares the step."""
    hit = hit_at(doc, pos)
    if hit is None or not isinstance(doc.data, dict):
        return None
    kind = str(doc.data.get("kind", ""))
    if not hit.is_key:
        if hit.path[-1:] == ("type",) and hit.text in STEP_MODELS and kind in ("SOP", "Variant"):
            return step_type_text(hit.text)
        return None
    data, path = _as_sop(doc.data, hit.path, step_types or {})
    return field_text(data, path)


def _as_sop(
    data: dict[str, Any], path: JsonPath, step_types: Mapping[str, str]
) -> tuple[dict[str, Any], JsonPath]:
    """What a variant writes is free-form to its own schema, but it is part of an SOP: a
    step it inserts or replaces, the fields it sets on a step, the defaults it sets. Read
    it as that part of an SOP, so the SOP's schema applies."""
    if data.get("kind") != "Variant" or path[:1] != ("changes",) or len(path) < 4:
        return data, path
    change, rest = path[2], path[3:]
    part = value_at(data, path[:3])
    if change == "set_defaults":
        return {"kind": "SOP", "defaults": part}, ("defaults", *rest)
    if change == "set" and isinstance(part, dict):
        step = {**part, "type": step_types.get(str(part.get("step")), "")}
        return {"kind": "SOP", "steps": [step]}, ("steps", 0, *rest)
    if change == "replace" and rest[:1] == ("with",):
        step, rest = value_at(part, ("with",)), rest[1:]
    elif change == "insert" and rest[:1] == ("steps",) and len(rest) > 2:
        step, rest = value_at(part, rest[:2]), rest[2:]
    else:
        return data, path
    return {"kind": "SOP", "steps": [step]}, ("steps", 0, *rest)


def _step_context(data: dict[str, Any], path: JsonPath) -> tuple[str | None, JsonPath]:
    """The type of the innermost step that ``path`` is in, and the path inside that step."""
    for i in range(len(path) - 2, -1, -1):
        if path[i] == "steps" and isinstance(path[i + 1], int):
            step = value_at(data, path[: i + 2])
            step_type = step.get("type") if isinstance(step, dict) else None
            return (str(step_type) if step_type else None), path[i + 2 :]
    return None, path


def _dotted(path: JsonPath) -> str:
    """``rules[].when`` for ("rules", 0, "when"), as the guide's tables name fields."""
    out = ""
    for part in path:
        out += "[]" if isinstance(part, int) else ("." if out else "") + part
    return out


def _guide_row(guide: Guide, data: dict[str, Any], path: JsonPath) -> Row | None:
    step_type, inner = _step_context(data, path)
    if step_type is not None:
        places = [f"`{step_type}`:", "3. Step types", "Fields every step has"]
    else:
        places = _PLACES.get(str(data.get("kind")), [])
    names = [_dotted(inner), str(path[-1])]
    return guide.row(names, places)


def _table(guide: Guide, row: Row) -> str:
    lines = [
        "| " + " | ".join(row.header) + " |",
        "|" + " --- |" * len(row.header),
        "| " + " | ".join(row.cells) + " |",
    ]
    where = f"*Authoring guide:* {guide.link(row.section)}"
    return guide.absolute_links("\n".join(lines)) + "\n\n" + where


def field_text(data: dict[str, Any], path: JsonPath) -> str | None:
    """Markdown for the field whose key is at ``path``."""
    info = field_info(data, path)
    if info is None:
        return None
    head = f"**`{info.name}`** · "
    if info.entry_of is not None:
        head += f"an entry of `{info.entry_of}` · "
    head += type_text(info.schema)
    if info.required:
        head += " · required"
    elif info.schema.get("default") not in (None, [], {}):
        head += f" · default `{info.schema['default']}`"
    parts = [head]
    text = description(info.schema)
    if text and text != "A CEL expression":  # the type already says so
        parts.append(text)
    guide = load_guide()
    row = _guide_row(guide, data, path)
    if row is not None:
        parts.append(_table(guide, row))
    return "\n\n".join(parts)


def step_type_text(step_type: str) -> str:
    """Markdown for a step type: what it does, its fields, and its section of the guide."""
    model = STEP_MODELS[step_type]
    guide = load_guide()
    section = guide.step_section(step_type)
    head = f"**`{step_type}`** step"
    if section is not None:
        # The section's title says in a few words what the step does.
        head += ":" + section.title.split(":", 1)[-1]
    parts = [head]
    if doc := model.__dict__.get("__doc__"):
        parts.append(" ".join(str(doc).replace("``", "`").split()))
    if section is not None and (opening := intro(section)):
        parts.append(guide.absolute_links(opening))
    parts.append("Fields: " + ", ".join(f"`{name}`" for name in step_fields(step_type)))
    if section is not None:
        parts.append(f"*Authoring guide:* {guide.link(section)}")
    return "\n\n".join(parts)
