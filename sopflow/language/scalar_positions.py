"""Map a character offset inside a YAML scalar's value back to the file's line and column.

An expression's error is found at an offset in the *value* (after YAML unescaped and folded
it); the author needs the place in the *file*. This walks the scalar's source text the way
YAML reads it: quotes and escapes (``''`` in single quotes, backslash escapes in double
quotes), block scalars (``|`` and ``>``, content indented on the following lines), and plain
or quoted scalars that continue over several lines, where each line break reads as one
character (a space or a newline).
"""

from __future__ import annotations

from dataclasses import dataclass

_ESCAPE_LENGTHS = {"x": 4, "u": 6, "U": 10}


@dataclass(frozen=True, slots=True)
class ScalarSpan:
    """Where a scalar stands: its style and 0-based start and end (line, column)."""

    style: str  # "", "'", '"', "|" or ">"
    start_line: int
    start_col: int
    end_line: int
    end_col: int


def _quoted_cells(line: str, start: int, quote: str) -> list[int]:
    """Columns of each value character of a quoted run starting at ``start``."""
    cells = []
    col = start
    while col < len(line):
        char = line[col]
        if char == quote:
            if quote == "'" and line[col + 1 : col + 2] == "'":
                cells.append(col)
                col += 2
                continue
            break
        if quote == '"' and char == "\\":
            cells.append(col)
            kind = line[col + 1 : col + 2]
            col += _ESCAPE_LENGTHS.get(kind, 2)
            continue
        cells.append(col)
        col += 1
    return cells


def _cells(lines: list[str], span: ScalarSpan) -> list[tuple[int, int]]:
    """(line, column) of every character of the value, line breaks included as one cell."""
    out: list[tuple[int, int]] = []
    if span.style in ("|", ">"):
        body = range(span.start_line + 1, min(span.end_line + 1, len(lines)))
        indent = None
        for i in body:
            text = lines[i]
            if not text.strip():
                out.append((i, len(text)))
                continue
            if indent is None:
                indent = len(text) - len(text.lstrip(" "))
            out += [(i, c) for c in range(indent, len(text))]
            out.append((i, len(text)))  # the line break
        return out
    quote = span.style if span.style in ("'", '"') else ""
    for i in range(span.start_line, min(span.end_line + 1, len(lines))):
        text = lines[i]
        if i == span.start_line:
            start = span.start_col + len(quote)
        else:
            start = len(text) - len(text.lstrip(" \t"))
        if quote:
            cols = _quoted_cells(text, start, quote)
        else:
            stop = span.end_col if i == span.end_line else len(text.rstrip())
            cols = list(range(start, stop))
        out += [(i, c) for c in cols]
        if i < span.end_line:
            out.append((i, len(text.rstrip())))  # folded line break: one space
    return out


def locate(lines: list[str], span: ScalarSpan, offset: int) -> tuple[int, int]:
    """1-based (line, column) of value character ``offset`` of the scalar at ``span``."""
    cells = _cells(lines, span)
    if not cells:
        return span.start_line + 1, span.start_col + 1
    line, col = cells[min(max(offset, 0), len(cells) - 1)] if offset < len(cells) else cells[-1]
    if offset >= len(cells):
        col += 1 + offset - len(cells)  # just past the end, e.g. "unexpected end of input"
    return line + 1, col + 1
