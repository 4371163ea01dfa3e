"""SVG primitives for the programme charts: escaping, numbers, text and shapes, and the
document head that makes a chart accessible.

Every chart is a standalone document that is also safe to embed in a console page: the look
is in presentation attributes only (no ``style`` attribute, no ``<style>``, which the
console's CSP forbids), fonts are the system's, there is no script, no event handler and no
external reference. Every text is escaped here, so a chart's code never writes raw text.
Numbers are written with one decimal at most, so the same data gives the same bytes.
"""

from __future__ import annotations

import re
from html import escape

from sopflow.compile.graph_layout import text_w

FONTS = "Helvetica, Arial, 'Liberation Sans', sans-serif"
INK, MUTED, GRID, TRACK, BACKGROUND = "#0f172a", "#475569", "#e2e8f0", "#f1f5f9", "#ffffff"
TITLE_SIZE, SUB_SIZE, LABEL_SIZE, SMALL_SIZE = 15.0, 11.0, 12.0, 10.5
MARGIN = 24.0
# Where the subtitle's baseline is: charts draw below HEADER.
HEADER = 56.0
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ID = re.compile(r"[^a-z0-9]+")


def esc(text: str) -> str:
    """``text`` safe in an XML text node or a double-quoted attribute (characters XML
    forbids are dropped)."""
    return escape(_NOT_XML.sub("", text), quote=True)


def num(value: float) -> str:
    """A coordinate with one decimal at most (``-0`` written ``0``)."""
    return f"{round(value, 1) + 0.0:.1f}".removesuffix(".0")


def width_of(text: str, size: float = LABEL_SIZE) -> float:
    """The estimated width of ``text`` at ``size`` px (no font metrics: the same estimate
    as the SOP graph's, so layout never depends on the machine)."""
    return text_w(text, size)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in … when cut."""
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def dom_id(text: str) -> str:
    """``text`` as a lower-case id fragment (letters, digits and dashes)."""
    return _ID.sub("-", text.lower()).strip("-") or "chart"


def duration(seconds: float | None) -> str:
    """A duration for people: ``45s``, ``12m``, ``3h05m``, ``2d04h`` (``-`` for none), as
    ``sopflow metrics`` writes it in its tables."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m" if s % 3600 else f"{s // 3600}h"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h" if s % 86400 else f"{s // 86400}d"


def percent(ratio: float) -> str:
    """``0.6667`` as ``67%`` (rounded to whole percents: a slide needs no more)."""
    return f"{round(ratio * 100)}%"


def text(
    x: float,
    y: float,
    content: str,
    *,
    size: float = LABEL_SIZE,
    anchor: str = "start",
    fill: str = INK,
    bold: bool = False,
) -> str:
    """A ``<text>`` element, its content escaped."""
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}" text-anchor="{anchor}"'
        f' fill="{fill}"{weight}>{esc(content)}</text>'
    )


def rect(
    x: float, y: float, w: float, h: float, fill: str, *, stroke: str | None = None, cls: str = ""
) -> str:
    """A ``<rect>``; ``cls`` names what it draws (tests and readers find it by class)."""
    outline = f' stroke="{stroke}" stroke-width="1"' if stroke else ""
    klass = f' class="{esc(cls)}"' if cls else ""
    return (
        f'<rect{klass} x="{num(x)}" y="{num(y)}" width="{num(max(w, 0.0))}"'
        f' height="{num(h)}" fill="{fill}"{outline}/>'
    )


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = GRID) -> str:
    """A one-pixel ``<line>`` (grid lines and axes)."""
    return (
        f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}"'
        f' stroke="{stroke}" stroke-width="1"/>'
    )


def titled(title: str, *body: str, cls: str = "") -> str:
    """A ``<g>`` whose ``<title>`` (a tooltip, and what a screen reader says of it) is
    ``title``."""
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<g{klass}><title>{esc(title)}</title>{''.join(body)}</g>"


def document(
    prefix: str, width: float, height: float, title: str, subtitle: str, desc: str, body: list[str]
) -> str:
    """A standalone, accessible SVG document: ``role="img"`` labelled by its ``<title>``
    and ``<desc>`` (which says in words everything drawn), a white background, the title
    and subtitle drawn at the top, then ``body``. ``prefix`` keeps ids unique when several
    charts are embedded in one page."""
    size = f'width="{num(width)}" height="{num(height)}" viewBox="0 0 {num(width)} {num(height)}"'
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img"'
            f' aria-labelledby="{prefix}-title {prefix}-desc" font-family="{FONTS}">',
            f'<title id="{prefix}-title">{esc(title)}</title>',
            f'<desc id="{prefix}-desc">{esc(desc)}</desc>',
            rect(0, 0, width, height, BACKGROUND, cls="background"),
            text(MARGIN, 24, title, size=TITLE_SIZE, bold=True),
            text(MARGIN, 41, subtitle, size=SUB_SIZE, fill=MUTED),
            *body,
            "</svg>\n",
        ]
    )
