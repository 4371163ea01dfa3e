"""A form's values: the raw strings a rendered form sends for a JSON value, and the JSON a
submitted form stands for (``sopflow.web.forms`` says how each kind of field maps)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sopflow.web.forms import Field, Raw

_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MISSING = object()


@dataclass(slots=True)
class Parsed:
    """A submitted form: its JSON, and the fields whose text could not be read at all."""

    data: dict[str, Any]
    problems: dict[str, list[str]] = field(default_factory=dict)  # field name -> messages


def raw_of(fields: Sequence[Field], data: Mapping[str, Any]) -> dict[str, list[str]]:
    """The raw values a form pre-filled with ``data`` sends."""
    out: dict[str, list[str]] = {}
    for f in fields:
        value = data.get(f.path[-1], _MISSING) if isinstance(data, Mapping) else _MISSING
        if f.kind == "group":
            out |= raw_of(f.children, value if isinstance(value, Mapping) else {})
        elif value is not _MISSING:
            out[f.name] = _raw_value(f, value)
    return out


def _raw_value(f: Field, value: Any) -> list[str]:
    match f.kind:
        case "yesno":
            return ["true" if value is True else "false" if value is False else ""]
        case "radios" | "select":
            return [o.key for o in f.options if _same(o.value, value)][:1]
        case "checkboxes":
            items = value if isinstance(value, list) else []
            return [o.key for o in f.options if any(_same(o.value, v) for v in items)]
        case "lines":
            items = value if isinstance(value, list) else []
            return ["\n".join(_line(v) for v in items)]
        case "datetime":
            return [local_time(value) if isinstance(value, str) else ""]
        case "number":
            return [json.dumps(value) if isinstance(value, int | float) else str(value)]
        case "json":
            return [json.dumps(value, indent=2, ensure_ascii=False)]
        case _:
            return [value if isinstance(value, str) else json.dumps(value)]


def _same(one: Any, two: Any) -> bool:
    return type(one) is type(two) and one == two


def _line(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def local_time(value: str) -> str:
    """An RFC 3339 time as a ``datetime-local`` value in UTC; unchanged if it is not one."""
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text if len(text) > len("YYYY-MM-DDTHH:MM") else text + ":00"


# --- raw values to JSON


def parse(fields: Sequence[Field], raw: Raw) -> Parsed:
    """The JSON the submitted raw values stand for; a field whose text cannot be read at
    all (JSON that does not parse) is left out and named in ``problems``."""
    parsed = Parsed({})
    parsed.data = _parse_into(fields, raw, parsed)
    return parsed


def _parse_into(fields: Sequence[Field], raw: Raw, parsed: Parsed) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.kind == "group":
            inner = _parse_into(f.children, raw, parsed)
            if inner or f.required:
                out[f.path[-1]] = inner
            continue
        value = _parse_field(f, list(raw.get(f.name, ())), parsed)
        if value is not _MISSING:
            out[f.path[-1]] = value
    return out


def _parse_field(f: Field, values: list[str], parsed: Parsed) -> Any:
    text = values[0].replace("\r\n", "\n") if values else ""
    match f.kind:
        case "checkboxes":
            chosen = [_choice(f, v) for v in values]
            return chosen if chosen or f.required else _MISSING
        case "yesno":
            return {"true": True, "false": False}.get(text, _MISSING)
        case "radios" | "select":
            return _choice(f, text) if text else _MISSING
        case "lines":
            items = [_scalar(f.schema["items"], line) for line in text.split("\n") if line]
            return items if items or f.required else _MISSING
        case "number":
            return _scalar(f.schema, text) if text else _MISSING
        case "datetime":
            return utc_time(text) if text else _MISSING
        case "json":
            return _json(f, text, parsed) if text.strip() else _MISSING
        case "text" | "textarea":
            return text if text or f.required else _MISSING
        case _:
            return text if text else _MISSING


def _choice(f: Field, key: str) -> Any:
    """The enum value sent by index; an unknown index stays text (the check refuses it)."""
    if key.isdigit() and int(key) < len(f.options):
        return f.options[int(key)].value
    return key


def _scalar(schema: Mapping[str, Any], text: str) -> Any:
    """``text`` as the number the schema wants; text that is no number stays text (the check
    then says the value must be a number)."""
    kind = schema.get("type")
    if kind not in ("integer", "number"):
        return text
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    try:
        number = float(stripped)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if kind == "integer" and number.is_integer() else number


def utc_time(text: str) -> str:
    """A ``datetime-local`` value (UTC) as RFC 3339 (``...:00Z``); anything else as typed."""
    stripped = text.strip()
    found = _LOCAL_TIME.fullmatch(stripped)
    if not found:
        return text
    return stripped + ("" if found.group(1) else ":00") + "Z"


def _json(f: Field, text: str, parsed: Parsed) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        parsed.problems.setdefault(f.name, []).append(f"not valid JSON: {exc}")
        return _MISSING
