"""Checking an incident's input against its SOP's input schema (JSON Schema 2020-12), the
same way for ``incident start``, rehearsals and lint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    # A time zone is required: a bare local time on a cross-desk case is ambiguous.
    return "T" in value.upper() and parsed.tzinfo is not None


FORMATS = FormatChecker()
FORMATS.checks("date-time")(_is_datetime)


def input_problems(schema: dict[str, Any], data: Any) -> list[str]:
    """Every way ``data`` fails the SOP's input schema (Draft 2020-12), as ``$.path: why``."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda e: (e.json_path, e.message))
    return [f"{e.json_path}: {e.message}" for e in errors]
