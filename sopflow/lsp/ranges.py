"""Places in a file as the server keeps them: 0-based lines and columns in code points.

YAML marks count code points; LSP clients count UTF-16 units (or what they negotiated).
Everything here stays in code points, and the server converts at its boundary with the
workspace's position codec.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

# A plain token: stops at white space, flow punctuation and comments, and at a key's colon
# (a colon followed by a space or the end of the line; `10:00` stays one token).
_PLAIN = re.compile(r"(?:[^\s,\[\]{}#:]|:(?=[^\s,\[\]{}]))+")


def at(line: int, col: int) -> ServerTextPosition:
    """A position from 0-based line and column."""
    return ServerTextPosition(line=line, character=col)


def span(line: int, start: int, end: int) -> ServerTextRange:
    """A range on one line."""
    return ServerTextRange(start=at(line, start), end=at(line, end))


def token_end(text: str, col: int) -> int:
    """Where the token that starts at ``col`` of ``text`` ends (0 width if none does)."""
    if col >= len(text):
        return col
    quote = text[col]
    if quote in "'\"":
        # The closing quote; a doubled single quote is an escaped one.
        i = col + 1
        while i < len(text):
            if text[i] == "\\" and quote == '"':
                i += 2
                continue
            if text[i] == quote:
                if quote == "'" and text[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return len(text)
    match = _PLAIN.match(text, col)
    return match.end() if match else col


def token_range(lines: Sequence[str], line: int, col: int) -> ServerTextRange:
    """From ``line``:``col`` (0-based) to the end of the token there, or of the line when no
    token starts there (a problem reported at a bracket or past the last character)."""
    if line >= len(lines):
        return span(line, col, col)
    text = lines[line].rstrip("\r\n")
    end = token_end(text, col)
    if end == col:
        end = max(col, len(text.rstrip()))
    return span(line, col, end)


def contains(region: ServerTextRange, pos: ServerTextPosition) -> bool:
    """True when ``pos`` is in ``region``, its end included (a cursor just after a word)."""
    return region.start <= pos <= region.end
