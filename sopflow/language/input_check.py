"""Checking an incident's input against its SOP's input schema (JSON Schema 2020-12), the
same way for ``incident start``, rehearsals and lint."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from sopflow.contract.formats import ASSERTED_FORMATS

# One format checker with sopflow's asserted formats (sopflow/contract/formats.py), the same
# rules the workflow's form check uses: never what optional packages beside jsonschema add.
FORMATS = FormatChecker(formats=())
for _name, _check in ASSERTED_FORMATS.items():
    FORMATS.checks(_name)(lambda value, check=_check: not isinstance(value, str) or check(value))


def input_problems(schema: dict[str, Any], data: Any) -> list[str]:
    """Every way ``data`` fails the SOP's input schema (Draft 2020-12), as ``$.path: why``."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda e: (e.json_path, e.message))
    return [f"{e.json_path}: {e.message}" for e in errors]


def json_pointer(parts: Iterable[str | int]) -> str:
    """A JSON pointer (RFC 6901) from path segments: ``/a/0/b``, ``~`` and ``/`` escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def input_errors(schema: dict[str, Any], data: Any) -> list[tuple[str, str]]:
    """Every way ``data`` fails the SOP's input schema, as ``(JSON pointer, message)`` pairs
    (the pointer into ``data``; ``""`` for the whole of it), in a stable order. A missing
    required property is pointed at where it should be, so a form can mark the field."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    found = []
    for error in validator.iter_errors(data):
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.validator_value, list):
            missing = [p for p in error.validator_value if error.message.startswith(repr(p))]
            path += missing[:1]
        found.append((json_pointer(path), error.message))
    return sorted(found)
