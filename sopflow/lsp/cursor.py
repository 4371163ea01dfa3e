"""What stands under the cursor in a parsed document: a mapping key or a scalar value, with
its JSON path, so the features can ask the schema and the library about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from sopflow.language.yaml_source import JsonPath, SourceDoc
from sopflow.lsp.ranges import at, contains, span, token_end


@dataclass(frozen=True, slots=True)
class Hit:
    """A key (``is_key``) or a scalar value at ``path``; ``text`` is the key, or the value
    as text."""

    path: JsonPath
    is_key: bool
    text: str
    region: ServerTextRange


def key_region(doc: SourceDoc, path: JsonPath) -> ServerTextRange | None:
    """Where the key that holds ``path`` is written."""
    mark = doc.key_positions.get(path)
    if mark is None:
        return None
    line = doc.lines[mark.line] if mark.line < len(doc.lines) else ""
    return span(mark.line, mark.column, token_end(line, mark.column))


def value_region(doc: SourceDoc, path: JsonPath) -> ServerTextRange | None:
    """Where the scalar at ``path`` is written (None for a mapping or a list)."""
    found = doc.spans.get(path)
    if found is None:
        return None
    return ServerTextRange(
        start=at(found.start_line, found.start_col), end=at(found.end_line, found.end_col)
    )


def entry_region(doc: SourceDoc, path: JsonPath) -> ServerTextRange | None:
    """The whole ``key: value`` entry at ``path`` (the key alone for a nested value): what a
    definition jumps to, e.g. a step's ``id: assess``."""
    key = key_region(doc, path)
    value = value_region(doc, path)
    if key is None:
        return value
    if value is None or value.end.line != key.start.line:
        return key
    return ServerTextRange(start=key.start, end=value.end)


def value_at(data: Any, path: JsonPath) -> Any:
    """The data at ``path``, or None where the path leads nowhere."""
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def hit_at(doc: SourceDoc, pos: ServerTextPosition) -> Hit | None:
    """The key or scalar under ``pos``; keys win, as a key and its value never overlap."""
    for path, mark in doc.key_positions.items():
        if mark.line != pos.line:
            continue
        region = key_region(doc, path)
        if region is not None and contains(region, pos):
            return Hit(path, True, str(path[-1]), region)
    for path in doc.spans:
        region = value_region(doc, path)
        if region is not None and contains(region, pos):
            value = value_at(doc.data, path)
            text = "" if value is None else str(value)
            return Hit(path, False, text, region)
    return None
