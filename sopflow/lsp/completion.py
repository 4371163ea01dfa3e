"""Completion: step ids after `next`, `goto` and in `on` maps, roles after `assignee`,
`approvers`, `escalate` and `to`, policy ids after `policy`, step types after `type`.

While someone types, the file is often not valid YAML (`approvers: [lead, `), so what is
being completed is read from the text of the line and the indentation above it, not from a
parse. The names offered come from the last parse that worked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lsprotocol import types
from pygls.workspace.position_codec import ServerTextRange

from sopflow.language.models.steps import STEP_MODELS
from sopflow.lsp.hover import step_type_text
from sopflow.lsp.ranges import span
from sopflow.lsp.references import ROLE_FIELDS, ROLE_LISTS, Symbols

# `key: partial`, `key: [a, b, partial`, `{approved: x, rejected: partial`
_KEY_VALUE = re.compile(r"([A-Za-z_][\w-]*):\s*(?:\[\s*(?:[\w-]+\s*,\s*)*)?([\w-]*)$")
_ITEM = re.compile(r"^(\s*)-\s+([\w-]*)$")
_KEY_LINE = re.compile(r"^(\s*)(-\s+)?([\w-]+):\s*(.*?)\s*(#.*)?$")
# Inside these a `type:` is JSON Schema's, not a step's.
_SCHEMA_KEYS = frozenset(("form", "input", "properties", "items", "additionalProperties"))
_FLOW_ON = re.compile(r"\bon:\s*\{[^}]*$")
_FLOW_SCHEMA = re.compile(r"\b(?:form|input|properties|items)\s*:")


class Want(StrEnum):
    """What kind of name the cursor is at."""

    STEP = "step"
    ROLE = "role"
    POLICY = "policy"
    STEP_TYPE = "step_type"


@dataclass(frozen=True, slots=True)
class Context:
    """What to complete, and the partial word the completion replaces."""

    want: Want
    key: str
    region: ServerTextRange


def _key_indent(line: str) -> tuple[int, str, str] | None:
    """(column of the key, the key, what follows its colon) for a ``key:`` line."""
    match = _KEY_LINE.match(line)
    if not match or line.lstrip().startswith("#"):
        return None
    return len(match[1]) + len(match[2] or ""), match[3], match[4]


def ancestors(lines: Sequence[str], line: int, indent: int, *, item: bool = False) -> list[str]:
    """The keys that enclose column ``indent`` of ``line``, nearest first, read from the
    indentation above (a list item may also sit at its key's own indentation)."""
    found: list[str] = []
    for above in range(line - 1, -1, -1):
        parsed = _key_indent(lines[above])
        if parsed is None:
            continue
        col, key, rest = parsed
        own_level = item and not found and col == indent and not rest
        if col < indent or own_level:
            found.append(key)
            indent = col
        if indent == 0:
            break
    return found


def _want(key: str, parents: list[str], kind: str, prefix: str) -> Want | None:
    if key in ("next", "goto") or (kind == "Variant" and key in ("step", "after", "before")):
        return Want.STEP
    if kind == "Rehearsal" and key == "step":
        return Want.STEP
    if key == "type":
        inside_schema = _SCHEMA_KEYS & set(parents) or _FLOW_SCHEMA.search(prefix)
        return None if inside_schema else Want.STEP_TYPE
    if key in ROLE_FIELDS or key in ROLE_LISTS or key == "role":
        return Want.ROLE
    if key == "owner" and "steps" in parents:
        return Want.ROLE
    if key == "policy":
        return Want.POLICY
    if _FLOW_ON.search(prefix) or parents[:1] == ["on"]:
        return Want.STEP
    return None


def completion_context(lines: Sequence[str], line: int, col: int, kind: str) -> Context | None:
    """What the cursor at ``line``:``col`` (code points) completes, if anything."""
    if line >= len(lines):
        return None
    prefix = lines[line][:col]
    item = _ITEM.match(prefix)
    if item:
        parents = ancestors(lines, line, len(item[1]), item=True)
        key, partial, parents = (parents[0] if parents else ""), item[2], parents[1:]
    else:
        match = _KEY_VALUE.search(prefix)
        if match is None:
            return None
        key, partial = match[1], match[2]
        parents = ancestors(lines, line, match.start(1))
    want = _want(key, parents, kind, prefix)
    if want is None:
        return None
    return Context(want, key, span(line, col - len(partial), col))


Edit = Callable[[str], types.TextEdit]


def _item(
    label: str, kind: types.CompletionItemKind, detail: str, edit: Edit
) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail, text_edit=edit(label))


def completion_items(
    ctx: Context, symbols: Symbols, policies: dict[str, str], edit: Edit
) -> list[types.CompletionItem]:
    """The names to offer in ``ctx``; ``policies`` maps each policy id to its title, and
    ``edit`` makes the edit that puts a name in place of the partial word."""
    kinds = types.CompletionItemKind
    if ctx.want is Want.STEP:
        items = [
            _item(name, kinds.Reference, f"{t.detail} step".strip(), edit)
            for name, t in sorted(symbols.steps.items())
        ]
        if ctx.key not in ("step", "after", "before"):  # a change names a real step
            items.append(_item("end", kinds.Keyword, "the end of this list of steps", edit))
        return items
    if ctx.want is Want.ROLE:
        roles = sorted(symbols.roles.items())
        return [_item(name, kinds.Value, t.detail or "role", edit) for name, t in roles]
    if ctx.want is Want.POLICY:
        return [_item(p, kinds.Reference, title, edit) for p, title in sorted(policies.items())]
    out = []
    for name in STEP_MODELS:
        doc = types.MarkupContent(kind=types.MarkupKind.Markdown, value=step_type_text(name))
        item = _item(name, kinds.Class, "step type", edit)
        item.documentation = doc
        out.append(item)
    return out
