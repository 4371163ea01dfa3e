"""The audit report's Markdown (``sopflow.audit.report_render``, the same text as ``GET
/api/v1/incidents/{id}/audit?format=markdown``) as HTML for the console.

Rendered by markdown-it with raw HTML off (any ``<...>`` in the report's data comes out as
text) and links, images and autolinks off (no text from the data becomes a link or loads
anything). Tables get header cells with ``scope``; a table whose header row is empty (the
report's summary) gets its first column as row headers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup


def _end(tokens: Sequence[Token], start: int, kind: str) -> int:
    return next(j for j in range(start, len(tokens)) if tokens[j].type == kind)


def _as_row_header(token: Token, opening: bool) -> None:
    token.type, token.tag = ("th_open" if opening else "th_close"), "th"
    if opening:
        token.attrSet("scope", "row")


def row_headers(state: StateCore) -> None:
    """A table with an empty header row: no header row, the first column as row headers."""
    tokens, i = state.tokens, 0
    while i < len(tokens):
        if tokens[i].type != "thead_open":
            i += 1
            continue
        end = _end(tokens, i, "thead_close")
        if any(t.type == "inline" and t.content.strip() for t in tokens[i:end]):
            i = end + 1
            continue
        del tokens[i : end + 1]
        body_end = _end(tokens, i, "tbody_close") if tokens[i].type == "tbody_open" else i
        for j in range(i, body_end):
            if tokens[j].type == "tr_open" and tokens[j + 1].type == "td_open":
                _as_row_header(tokens[j + 1], True)
                _as_row_header(tokens[_end(tokens, j + 1, "td_close")], False)
        i = body_end + 1


def _th_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    if tokens[idx].attrGet("scope") is None:
        tokens[idx].attrSet("scope", "col")
    return renderer.renderToken(tokens, idx, options, env)


def _table_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    # A wide table scrolls inside its own box, which the keyboard can reach and scroll.
    return '<div class="table-scroll" tabindex="0">' + renderer.renderToken(
        tokens, idx, options, env
    )


def _table_close(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    return renderer.renderToken(tokens, idx, options, env) + "</div>"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.enable("table").disable(["link", "image", "autolink"])
    md.core.ruler.push("row_headers", row_headers)
    md.add_render_rule("th_open", _th_open)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    return md


_MD = _parser()


def report_html(markdown: str) -> Markup:
    """The report as HTML. markdown-it escapes every text in it and, with raw HTML, links
    and images off, emits only the tags of Markdown's own structure: safe to insert."""
    return Markup(_MD.render(markdown))  # noqa: S704
