"""The authoring guide (docs/authoring.md) as a source of hover text.

The schema says what a field is; the guide's tables also say what happens when it is
absent, and each step type has a section. The guide sits beside the package in a checkout
(``pip install -e``); an installed package without it still hovers from the schema alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "authoring.md"

_HEADING = re.compile(r"^(#{2,3}) (.+?)\s*$")
_NAME = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\]\((?!https?:|file:|mailto:)([^)\s]*)\)")


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", title.lower())
    return text.replace(" ", "-")


@dataclass(slots=True)
class Section:
    """A ``##`` or ``###`` heading of the guide and the lines under it."""

    title: str
    chapter: str  # the ``##`` title it belongs to (its own for a ``##``)
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Row:
    """A row of a field table: the field names in its first cell, header and cells."""

    names: tuple[str, ...]
    header: tuple[str, ...]
    cells: tuple[str, ...]
    section: Section


def _cells(line: str) -> tuple[str, ...]:
    # Split on the table's pipes, not on those inside code spans (`a | b`).
    parts, current, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return (*parts, current.strip())


def _documents_fields(header: tuple[str, ...], cells: tuple[str, ...]) -> bool:
    """A row of a field table, not its separator; "see above" rows point back at a fuller
    row, which is the answer."""
    if not header[0].startswith(("field", "change")) or set(cells[0]) <= set("- "):
        return False
    return cells[1:2] != ("see above",)


def _rows(section: Section) -> list[Row]:
    rows: list[Row] = []
    header: tuple[str, ...] = ()
    for line in section.lines:
        if not line.startswith("|"):
            header = ()
            continue
        cells = _cells(line)
        if not header:
            header = cells
        elif _documents_fields(header, cells):
            rows.append(Row(tuple(_NAME.findall(cells[0])), header, cells, section))
    return rows


@dataclass(slots=True)
class Guide:
    """The guide's sections and field rows, and where it lives (for links)."""

    path: Path | None
    sections: list[Section] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def link(self, section: Section) -> str:
        """A link to ``section`` (a file URI with its anchor), or its title alone."""
        if self.path is None:
            return section.title
        return f"[{section.title}]({self.path.as_uri()}#{anchor(section.title)})"

    def absolute_links(self, text: str) -> str:
        """``text`` with the guide's relative links made absolute, so they open from a hover."""
        if self.path is None:
            return text
        base = self.path.as_uri()
        folder = self.path.parent.as_uri()
        return _LINK.sub(
            lambda m: f"]({base}{m[1]})" if m[1].startswith("#") else f"]({folder}/{m[1]})",
            text,
        )

    def step_section(self, step_type: str) -> Section | None:
        """The section on a step type (``### `task`: ...``)."""
        return next((s for s in self.sections if s.title.startswith(f"`{step_type}`:")), None)

    def row(self, names: list[str], places: list[str]) -> Row | None:
        """The row that documents the first of ``names`` it can, looking in the sections
        whose title contains one of ``places`` (in order), then in their chapters. A name
        also matches a row written under its parent, as ``<handle>.name`` for ``name``."""
        for exact in (True, False):
            for in_chapter in (False, True):
                for place in places:
                    for name in names:
                        for row in self.rows:
                            title = row.section.chapter if in_chapter else row.section.title
                            if place in title and _names(row, name, exact=exact):
                                return row
        return None


def _names(row: Row, name: str, *, exact: bool) -> bool:
    if exact:
        return name in row.names
    return any(n.endswith(("." + name, "]." + name)) for n in row.names)


def intro(section: Section) -> str:
    """The paragraph that opens a section, when it opens with one (not an example)."""
    paragraph: list[str] = []
    for line in section.lines:
        text = line.strip()
        if not text and not paragraph:
            continue
        if not text or text.startswith(("```", "|", "#", ">")):
            break
        paragraph.append(text)
    return " ".join(paragraph)


def parse_guide(text: str, path: Path | None) -> Guide:
    """Index the guide's headings and field tables."""
    guide = Guide(path)
    chapter = ""
    current: Section | None = None
    fence = False
    for line in text.splitlines():
        fence ^= line.lstrip().startswith("```")
        match = None if fence else _HEADING.match(line)
        if match:
            level, title = match.groups()
            chapter = title if level == "##" else chapter
            current = Section(title, chapter)
            guide.sections.append(current)
        elif current is not None:
            current.lines.append(line)
    for section in guide.sections:
        guide.rows += _rows(section)
    return guide


@cache
def load_guide() -> Guide:
    """The guide beside the package, read once; empty when it is not there."""
    try:
        return parse_guide(GUIDE.read_text(encoding="utf-8"), GUIDE)
    except OSError:
        return Guide(None)
