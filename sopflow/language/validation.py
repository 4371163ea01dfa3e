"""Turn parsed YAML into typed documents, reporting every structural problem with its place.

pydantic reports errors by location tuple; discriminated unions insert their tag into that
tuple (``steps.0.task.form``). ``_resolve`` walks the location against the actual data so each
error lands on the line and column of the value (or key) it is about.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.durations import DURATION_HELP
from sopflow.language.models import API_VERSION, DOCUMENT_MODELS, STEP_MODELS
from sopflow.language.models.documents import CHANGE_KINDS
from sopflow.language.models.steps import step_fields
from sopflow.language.yaml_source import JsonPath, SourceDoc

_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _vocabulary() -> list[str]:
    """Every field name any model knows: the fallback for "did you mean" hints."""
    names: set[str] = set()
    pending: list[type[BaseModel]] = [*DOCUMENT_MODELS.values(), *STEP_MODELS.values()]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
        pending.extend(_nested_models(model))
    return sorted(names)


def _nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for info in model.model_fields.values():
        stack: list[Any] = [info.annotation]
        while stack:
            item = stack.pop()
            if isinstance(item, type) and issubclass(item, BaseModel):
                found.append(item)
            stack.extend(getattr(item, "__args__", ()))
    return found


def did_you_mean(word: str, options: list[str]) -> str:
    """A ' (did you mean `x`?)' hint when one option is close to ``word``, else ''."""
    same_letters = [o for o in options if o.lower() == word.lower()]
    close = same_letters or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}" if len(value) < 40 else "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _resolve(data: Any, loc: tuple[int | str, ...], *, missing: bool) -> tuple[JsonPath, Any, bool]:
    """Follow ``loc`` through ``data``. Returns (path, value there, whether it exists).

    With ``missing``, the last part of ``loc`` is a field that is absent from the data.
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif missing and isinstance(node, dict) and isinstance(part, str) and last:
            path.append(part)
            return tuple(path), None, False
        # Anything else is a union tag or a model name that pydantic put in the location.
    return tuple(path), node, True


_VOCABULARY = _vocabulary()
_DURATION_FIELDS = {"sla", "due", "timeout", "for", "initial_interval", "max_interval", "after"}


def _allowed_fields(data: Any, parent: JsonPath, model: type[BaseModel] | None) -> list[str]:
    """The field names allowed where an unknown field was found, for the hint."""
    node = data
    for part in parent:
        node = node[part]
    if isinstance(node, dict) and isinstance(node.get("type"), str) and node["type"] in STEP_MODELS:
        return step_fields(node["type"])
    if parent and parent[-1] == "on":
        owner = data
        for part in parent[:-1]:
            owner = owner[part]
        step_type = owner.get("type") if isinstance(owner, dict) else None
        if isinstance(step_type, str) and step_type in STEP_MODELS:
            return list(STEP_MODELS[step_type].OUTCOMES)
    if parent == () and model is not None:
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _field_name(path: JsonPath) -> str:
    parts = [p for p in path if isinstance(p, str)]
    return f"`{parts[-1]}`" if parts else "the value"


def _dotted(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "document"


def _named(target: _Target, path: JsonPath) -> str:
    """Where ``path`` is, naming steps by id as authors do: ``step `pick` (branches[0])``,
    not ``steps[1].branches[0]`` (the dotted path while a step has no id)."""
    full = (*target.prefix, *path)
    node: Any = target.src.data
    step, rest = "", 0  # the innermost step with an id, and where the path after it starts
    for i, part in enumerate(full):
        node = _child(node, part)
        step_id = node.get("id") if isinstance(node, dict) else None
        if isinstance(part, int) and i > 0 and full[i - 1] == "steps" and isinstance(step_id, str):
            step, rest = f"step `{step_id}`", i + 1
    after = _dotted(full[rest:]) if full[rest:] else ""
    if not step:
        return _dotted(full)
    return f"{step} ({after})" if after else step


def _child(node: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and 0 <= part < len(node) else None
    return node.get(part) if isinstance(node, dict) else None


@dataclass(frozen=True, slots=True)
class _Target:
    """The data pydantic validated, and where it stands in a source document."""

    data: Any
    src: SourceDoc
    prefix: JsonPath = ()

    def diag(self, path: JsonPath, code: str, message: str, *, key: bool = False) -> Diagnostic:
        return self.src.diag((*self.prefix, *path), code, message, key=key)


def _error_to_diag(
    target: _Target, err: ErrorDetails, model: type[BaseModel] | None
) -> tuple[JsonPath, Diagnostic]:
    kind = err["type"]
    path, value, exists = _resolve(target.data, err["loc"], missing=kind == "missing")
    where = _named(target, path)
    if kind == "extra_forbidden":
        field = str(path[-1]) if path else "?"
        options = _allowed_fields(target.data, path[:-1], model) or _VOCABULARY
        hint = did_you_mean(field, options)
        holder = _named(target, path[:-1])
        message = f"unknown field `{field}` in {holder}{hint}"
        return path, target.diag(path, "E202", message, key=True)
    if kind == "missing" or not exists:
        field = str(path[-1]) if path else "?"
        parent = path[:-1]
        message = f"missing required field `{field}` in {_named(target, parent)}"
        return path, target.diag(parent, "E204", message)
    if kind == "union_tag_invalid":
        tag = str(err.get("ctx", {}).get("tag", value))
        options = list(STEP_MODELS)
        hint = did_you_mean(tag, options)
        message = f"unknown step type {tag!r}{hint}; one of: {', '.join(options)}"
        return path, target.diag((*path, "type"), "E205", message)
    if kind == "union_tag_not_found":
        return path, target.diag(path, "E204", f"missing required field `type` in {where}")
    if kind == "change_kind":
        keys = list(value) if isinstance(value, dict) else []
        hint = did_you_mean(keys[0], list(CHANGE_KINDS)) if len(keys) == 1 else ""
        message = f"a change is a mapping with one of: {', '.join(CHANGE_KINDS)}{hint}"
        return path, target.diag(path, "E205", message)
    if kind == "duration":
        return path, target.diag(path, "E206", f"{where}: {err['msg']}")
    if kind == "string_type" and path and path[-1] in _DURATION_FIELDS:
        message = f"{where}: {value!r} is not a duration; {DURATION_HELP}"
        return path, target.diag(path, "E206", message)
    if kind in _TYPE_WORDS:
        message = f"{where} must be {_TYPE_WORDS[kind]}, not {_describe(value)}"
        return path, target.diag(path, "E203", message)
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        message = f"{where} is {_describe(value)}; expected {expected}"
        return path, target.diag(path, "E205", message)
    if kind == "string_pattern_mismatch":
        return path, target.diag(path, "E205", f"{where}: {_pattern_message(path, value)}")
    msg = err["msg"].removeprefix("Value error, ")
    return path, target.diag(path, "E205", f"{where}: {msg}")


_PATTERN_HELP = {
    "region": "a region code is upper case letters, like US, UK or AU",
    "jurisdiction": "a region code is upper case letters, like US, UK or AU",
    "id": "an id is lower case letters, digits and '-', starting with a letter",
    "sop": "write the SOP as id or id@version, e.g. emergency-disclosure@2",
    "outcome": "an outcome is lower case letters, digits, '-' and '_', e.g. resolved",
    "event": "an event name is letters, digits and . _ : - (at most 100)",
    "handoffs": "write each hand-off as `step: FROM -> TO`, e.g. `counsel_check: US -> UK`",
}


def _pattern_message(path: JsonPath, value: Any) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if key in _PATTERN_HELP:
        return f"{value!r}: {_PATTERN_HELP[key]}"
    return (
        f"{value!r} is not a valid name here: use lower case letters, digits, '-' and '_', "
        "starting with a letter"
    )


def _meant_branch(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Without the "not a string" of a union's text member when a mapping was written: the
    author meant the mapping member (``sla: {business: 8h}``), whose own errors say what is
    wrong with it."""
    kept = [e for e in errors if not (e["type"] == "string_type" and isinstance(e["input"], dict))]
    return kept or errors


def _first_per_place(found: list[tuple[JsonPath, Diagnostic]]) -> list[Diagnostic]:
    # Unions make pydantic report one failure per member; a person needs one per place.
    out: dict[JsonPath, Diagnostic] = {}
    for path, diag in found:
        out.setdefault(path, diag)
    return list(out.values())


def validate_document(doc: SourceDoc) -> tuple[BaseModel | None, list[Diagnostic]]:
    """Check ``apiVersion`` and ``kind``, then validate against the kind's model."""
    data = doc.data
    api = data.get("apiVersion")
    if api != API_VERSION:
        message = (
            f"missing `apiVersion`; write `apiVersion: {API_VERSION}`"
            if api is None
            else f"unknown apiVersion {api!r}; this sopflow reads {API_VERSION!r}"
        )
        return None, [doc.diag(("apiVersion",), "E200", message)]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in DOCUMENT_MODELS:
        kinds = list(DOCUMENT_MODELS)
        hint = did_you_mean(kind, kinds) if isinstance(kind, str) else ""
        message = (
            f"missing `kind`; one of: {', '.join(kinds)}"
            if kind is None
            else f"unknown kind {kind!r}{hint}; one of: {', '.join(kinds)}"
        )
        return None, [doc.diag(("kind",), "E201", message)]
    model = DOCUMENT_MODELS[kind]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        target = _Target(data, doc)
        errors = _meant_branch(exc.errors())
        return None, _first_per_place([_error_to_diag(target, e, model) for e in errors])


def validate_fragment(
    adapter: TypeAdapter[Any], data: Any, src: SourceDoc, prefix: JsonPath
) -> tuple[Any, list[Diagnostic]]:
    """Validate a part of a document (e.g. a step a variant writes), placing errors under
    ``prefix`` in ``src``."""
    try:
        return adapter.validate_python(data), []
    except ValidationError as exc:
        target = _Target(data, src, prefix)
        errors = _meant_branch(exc.errors())
        return None, _first_per_place([_error_to_diag(target, e, None) for e in errors])
