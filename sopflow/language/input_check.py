"""Checking an incident's input against its SOP's input schema (JSON Schema 2020-12), the
same way for ``incident start``, rehearsals and lint."""

from __future__ import annotations

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
