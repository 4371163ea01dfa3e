"""A form's errors: the workflow's form check and the API's input check, field by field,
and the summary at the top of a form that links to each field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sopflow.web.forms import Field, pointer, walk


@dataclass(frozen=True, slots=True)
class ErrorLink:
    """One line of the error summary: the field's label and id (None: the whole form)."""

    label: str
    message: str
    target: str | None


def form_check_errors(fields: Sequence[Field], messages: Sequence[str]) -> dict[str, list[str]]:
    """The workflow's form check messages (``path: why``) by field name; messages about no
    rendered field (the whole form, a property it does not have) under ``""``."""
    known = sorted(walk(fields), key=lambda f: len(f.where), reverse=True)
    out: dict[str, list[str]] = {}
    for message in messages:
        target = next(
            (
                f
                for f in known
                if message.startswith(f.where) and message[len(f.where) : len(f.where) + 1] in "[.:"
            ),
            None,
        )
        if target is None:
            out.setdefault("", []).append(message)
            continue
        rest, _, why = message[len(target.where) :].partition(": ")
        out.setdefault(target.name, []).append(f"{_items(rest)}{why}" if rest else why)
    return out


def _items(rest: str) -> str:
    """``[0].name`` as ``item 1, name: ``."""
    said = re.sub(r"\[([0-9]+)\]", lambda m: f" item {int(m.group(1)) + 1},", rest)
    return said.replace(".", " ").strip(" ,") + ": "


def pointer_errors(
    fields: Sequence[Field], errors: Sequence[tuple[str, str]]
) -> dict[str, list[str]]:
    """JSON-pointer errors (the API's input check) by field name; ``""`` for the rest."""
    by_pointer = {pointer(f.path): f for f in walk(fields)}
    out: dict[str, list[str]] = {}
    for where, message in errors:
        target, probe = None, where
        while probe and target is None:
            target = by_pointer.get(probe)
            probe = probe.rsplit("/", 1)[0]
        out.setdefault(target.name if target else "", []).append(message)
    return out


def summary(fields: Sequence[Field], errors: Mapping[str, Sequence[str]]) -> list[ErrorLink]:
    """The error summary: every field's errors in the form's order, then the form's own."""
    links = [
        ErrorLink(f.label, message, f.id)
        for f in walk(fields)
        for message in errors.get(f.name, ())
    ]
    return links + [ErrorLink("The form", message, None) for message in errors.get("", ())]


def merge(*sources: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Error maps joined, field by field."""
    out: dict[str, list[str]] = {}
    for source in sources:
        for name, messages in source.items():
            out.setdefault(name, []).extend(messages)
    return out
