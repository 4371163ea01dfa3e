"""HTML forms from a step's form (or an SOP's input) schema, and the submitted strings back
into the JSON the schema wants.

A form is a tree of :class:`Field` (one per property, nested objects as groups). What a
browser sends for a field is its *raw* value, a list of strings; :func:`parse` turns the
raw values of every field into JSON, :func:`bind` turns fields, raw values and error
messages into :class:`Control` values the templates render. Rendering from raw values, not
from parsed JSON, is what keeps what a person typed when a form comes back with errors.

The mapping (docs/console.md):

- ``boolean``: Yes / No radios (an optional one also "Not answered"), so both answers are
  sent (an unchecked checkbox is not);
- ``string``: a text input, a textarea above 200 characters of ``maxLength``; the formats
  ``date-time`` (``datetime-local``, in UTC), ``date``, ``email`` and ``uri`` their input types;
- ``enum``: radios up to five choices, a ``<select>`` above; the options are sent by index,
  so any JSON value comes back as itself;
- ``integer`` / ``number``: a number input with the schema's bounds;
- arrays of enums: checkboxes; arrays of strings or numbers: one item per line;
- objects with properties: a group (``<fieldset>``) of their fields;
- anything else: its JSON in a textarea.

An empty optional field is left out of the JSON; an empty required string is sent as ``""``
(the schema decides whether that is allowed).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal[
    "text",
    "textarea",
    "email",
    "url",
    "date",
    "datetime",
    "number",
    "yesno",
    "radios",
    "select",
    "checkboxes",
    "lines",
    "json",
    "group",
]
Raw = Mapping[str, Sequence[str]]

TEXTAREA_OVER = 200
RADIOS_UP_TO = 5
_INPUT_TYPES = {"date-time": "datetime", "date": "date", "email": "email", "uri": "url"}


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of an enum: sent as its index, shown as its label."""

    index: int
    value: Any
    label: str

    @property
    def key(self) -> str:
        """What the browser sends for it."""
        return str(self.index)


@dataclass(frozen=True, slots=True)
class Field:
    """One control of a form, for the property at ``path`` (names from the form's root)."""

    path: tuple[str, ...]
    name: str
    id: str
    label: str
    kind: Kind
    required: bool
    schema: Mapping[str, Any]
    help: str | None = None
    options: tuple[Option, ...] = ()
    children: tuple[Field, ...] = ()

    @property
    def where(self) -> str:
        """The field's path as the workflow's form check writes it (``a.b``)."""
        return ".".join(self.path)

    @property
    def choices(self) -> list[tuple[str, str]]:
        """A choice field's options as (what is sent, what is shown); an optional yes/no or
        radio group can also be left unanswered."""
        if self.kind == "yesno":
            out = [("true", "Yes"), ("false", "No")]
        else:
            out = [(o.key, o.label) for o in self.options]
        if self.kind in ("yesno", "radios") and not self.required:
            out.append(("", "Not answered"))
        return out

    @property
    def attrs(self) -> dict[str, str]:
        """The input's constraint attributes (``min``, ``max``, ``step``, lengths)."""
        s = self.schema
        out: dict[str, Any] = {}
        if self.kind == "number":
            integer = s.get("type") == "integer"
            low, high = s.get("minimum"), s.get("maximum")
            if integer and isinstance(s.get("exclusiveMinimum"), int | float):
                low = math.floor(s["exclusiveMinimum"]) + 1
            if integer and isinstance(s.get("exclusiveMaximum"), int | float):
                high = math.ceil(s["exclusiveMaximum"]) - 1
            out |= {"min": low, "max": high}
            out["step"] = s.get("multipleOf") or ("1" if integer else "any")
        elif self.kind in ("text", "textarea", "email", "url"):
            out |= {"minlength": s.get("minLength"), "maxlength": s.get("maxLength")}
        return {k: str(v) for k, v in out.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Control:
    """A field with what to show in it: its text, the options chosen, its errors."""

    field: Field
    value: str = ""
    chosen: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()
    children: tuple[Control, ...] = ()

    def checked(self, key: str) -> bool:
        """Whether a choice's box is checked (nothing chosen checks "Not answered")."""
        if key == "":
            return not (self.chosen - {""})
        return key in self.chosen

    @property
    def help_id(self) -> str:
        return f"{self.field.id}-help"

    @property
    def error_id(self) -> str:
        return f"{self.field.id}-error"

    @property
    def described_by(self) -> str:
        """The ids for ``aria-describedby``: the help text and the error, when there are."""
        ids = [self.help_id] if self.field.help else []
        return " ".join([*ids, *([self.error_id] if self.errors else [])])


# --- the fields of a schema


def humanise(name: str) -> str:
    """``officer_name`` as ``Officer name``."""
    text = re.sub(r"[_-]+", " ", name).strip()
    return text[:1].upper() + text[1:] if text else name


def pointer(path: Sequence[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _option_label(value: Any) -> str:
    return humanise(value) if isinstance(value, str) and value else json.dumps(value)


def kind_of(schema: Any) -> Kind:
    """The control a (sub)schema gets."""
    if not isinstance(schema, Mapping):
        return "json"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "radios" if len(schema["enum"]) <= RADIOS_UP_TO else "select"
    kind = schema.get("type")
    if kind == "boolean":
        return "yesno"
    if kind in ("integer", "number"):
        return "number"
    if kind == "string":
        by_format = _INPUT_TYPES.get(str(schema.get("format")))
        if by_format is not None:
            return by_format  # type: ignore[return-value]
        long = isinstance(schema.get("maxLength"), int) and schema["maxLength"] > TEXTAREA_OVER
        return "textarea" if long else "text"
    if kind == "array":
        return _array_kind(schema.get("items"))
    if kind == "object" and isinstance(schema.get("properties"), Mapping):
        return "group"
    return "json"


def _array_kind(items: Any) -> Kind:
    if not isinstance(items, Mapping):
        return "json"
    if isinstance(items.get("enum"), list) and items["enum"]:
        return "checkboxes"
    if items.get("type") in ("string", "integer", "number") and set(items) <= _LINE_ITEM_KEYS:
        return "lines"
    return "json"


# Item schemas a line of text can carry (anything richer is edited as JSON).
_LINE_ITEM_KEYS = frozenset(
    {"type", "minLength", "maxLength", "pattern", "format", "description", "title"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)


def fields_of(schema: Mapping[str, Any], prefix: str) -> tuple[Field, ...]:
    """The fields of an object schema, in its properties' order; ids ``<prefix>-<n>``,
    names ``<prefix>`` followed by the property's JSON pointer."""
    counter = iter(range(1_000_000))
    return _fields(schema, (), prefix, counter)


def _fields(
    schema: Mapping[str, Any], path: tuple[str, ...], prefix: str, counter: Any
) -> tuple[Field, ...]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = set(schema.get("required") or ())
    out = []
    for name, sub in properties.items():
        sub_path = (*path, str(name))
        sub_schema: Mapping[str, Any] = sub if isinstance(sub, Mapping) else {}
        kind = kind_of(sub)
        enum = sub_schema.get("enum") if kind in ("radios", "select") else None
        if kind == "checkboxes":
            enum = sub_schema["items"]["enum"]
        help_text = sub_schema.get("description")
        if kind == "datetime":
            help_text = f"{help_text} (UTC)" if help_text else "In UTC."
        out.append(
            Field(
                path=sub_path,
                name=prefix + pointer(sub_path),
                id=f"{prefix}-{next(counter)}",
                label=str(sub_schema.get("title") or humanise(str(name))),
                kind=kind,
                required=name in required,
                schema=sub_schema,
                help=help_text if isinstance(help_text, str) else None,
                options=tuple(Option(i, v, _option_label(v)) for i, v in enumerate(enum or ())),
                children=_fields(sub_schema, sub_path, prefix, counter) if kind == "group" else (),
            )
        )
    return tuple(out)


def walk(fields: Sequence[Field]) -> list[Field]:
    """Every field, groups and their children, depth first."""
    out: list[Field] = []
    for f in fields:
        out.append(f)
        out += walk(f.children)
    return out


def bind(
    fields: Sequence[Field], raw: Raw, errors: Mapping[str, Sequence[str]] | None = None
) -> tuple[Control, ...]:
    """The controls to render: the fields with the raw values and their errors."""
    errors = errors or {}
    out = []
    for f in fields:
        values = list(raw.get(f.name, ()))
        out.append(
            Control(
                field=f,
                value=values[0] if values and f.kind not in ("checkboxes",) else "",
                chosen=frozenset(values),
                errors=tuple(errors.get(f.name, ())),
                children=bind(f.children, raw, errors),
            )
        )
    return tuple(out)
