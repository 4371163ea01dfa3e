"""Safe YAML loading that remembers where every value came from.

PyYAML composes the file into nodes (libyaml's C parser when available); this module turns
the nodes into plain Python data itself, so that it can

- record the line and column of every value and every mapping key, keyed by JSON path;
- refuse duplicate keys, which PyYAML silently resolves to the last value;
- refuse every tag outside YAML's core schema (no ``!!python/object``, no custom tags);
- bound alias expansion, so a "billion laughs" file fails after a few thousand nodes instead
  of exhausting memory.

Only strings, integers, floats, booleans, null, lists and mappings with string keys come out.
Timestamps stay strings: SOP authors write durations and times as text, and a value that
silently becomes a ``datetime`` would not survive JSON.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.scalar_positions import ScalarSpan, locate

MAX_FILE_BYTES = 1024 * 1024
# Nodes produced by expanding aliases, beyond the nodes written in the file. A real SOP uses
# a handful of aliases; an expansion attack needs millions.
MAX_ALIAS_EXPANSION = 10_000

JsonPath = tuple[str | int, ...]

_PLAIN = "tag:sopflow,2026:plain"  # an untagged scalar, resolved below by YAML 1.2 rules


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser with no implicit resolvers: PyYAML's are YAML 1.1 (`on`, `yes` and
    `NO` are booleans) and cost a regex scan per scalar. Untagged scalars get ``_PLAIN`` and
    ``_Build._scalar`` resolves them by YAML 1.2's core schema, as editors do."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table
    DEFAULT_SCALAR_TAG = _PLAIN


_CORE_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
_CORE_BOOL["FALSE"] = False
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_KEY_TAGS = {_PLAIN, _STR}

_MODELINE = re.compile(r"#\s*yaml-language-server:\s*\$schema=(\S+)")


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column."""

    line: int
    col: int


@dataclass(slots=True)
class SourceDoc:
    """One YAML document: its data and where each part of it stands in the file."""

    path: str
    data: Any
    # YAML marks (0-based); turned into 1-based positions only when a diagnostic needs one.
    positions: dict[JsonPath, yaml.Mark] = field(default_factory=dict)
    key_positions: dict[JsonPath, yaml.Mark] = field(default_factory=dict)
    # Where each scalar stands, so an error inside an expression points at its character.
    spans: dict[JsonPath, ScalarSpan] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    schema_modeline: str | None = None

    def pos(self, path: JsonPath) -> Pos:
        """The position of the value at ``path``, or of its nearest existing parent."""
        for cut in range(len(path), -1, -1):
            found = self.positions.get(path[:cut])
            if found is not None:
                return Pos(found.line + 1, found.column + 1)
        return Pos(1, 1)

    def key_pos(self, path: JsonPath) -> Pos:
        """The position of the key that holds ``path`` (falls back to the value)."""
        found = self.key_positions.get(path)
        return Pos(found.line + 1, found.column + 1) if found else self.pos(path)

    def expr_pos(self, path: JsonPath, offset: int) -> Pos:
        """The position of character ``offset`` of the value of the scalar at ``path``."""
        span = self.spans.get(path)
        if span is None:
            return self.pos(path)
        line, col = locate(self.lines, span, offset)
        return Pos(line, col)

    def diag(self, path: JsonPath, code: str, message: str, *, key: bool = False) -> Diagnostic:
        where = self.key_pos(path) if key else self.pos(path)
        return Diagnostic(self.path, where.line, where.col, code, message)


class _Build:
    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.budget = MAX_ALIAS_EXPANSION
        self.seen: set[int] = set()
        self.errors: list[Diagnostic] = []

    def _at(self, node: yaml.Node) -> Pos:
        return Pos(node.start_mark.line + 1, node.start_mark.column + 1)

    def _fail(self, node: yaml.Node, code: str, message: str) -> None:
        where = self._at(node)
        self.errors.append(Diagnostic(self.doc.path, where.line, where.col, code, message))

    def value(self, node: yaml.Node, path: JsonPath) -> Any:
        # A node met twice is an alias; every visit past the first spends the budget.
        if id(node) in self.seen:
            self.budget -= 1
            if self.budget < 0:
                raise _AliasBombError(node)
        else:
            self.seen.add(id(node))
        if path not in self.doc.positions:
            self.doc.positions[path] = node.start_mark
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self._fail(node, "E104", f"unsupported YAML tag {node.tag!r}")
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != _MAP:
            self._fail(node, "E104", f"unsupported YAML tag {node.tag!r}")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                key_node.value == "<<" and not getattr(key_node, "style", None)
            ):
                self._fail(key_node, "E104", "merge keys (<<) are not supported; write fields out")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _KEY_TAGS:
                self._fail(key_node, "E203", "mapping keys must be plain text")
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in out:
                first = self.doc.key_pos(child)
                self._fail(
                    key_node,
                    "E102",
                    f"duplicate key {key!r} (first defined at line {first.line})",
                )
                continue
            self.doc.key_positions[child] = key_node.start_mark
            out[key] = self.value(value_node, child)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        start, end = node.start_mark, node.end_mark
        style = node.style or ""
        self.doc.spans[path] = ScalarSpan(style, start.line, start.column, end.line, end.column)
        tag, text = node.tag, node.value
        if tag == _PLAIN:
            if style:
                return text  # quoted or block: always text
            tag = _core_tag(text)
        if tag in (_STR, _TIMESTAMP):
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            # YAML 1.2: only true/false are booleans, so `region: NO` stays the text "NO".
            return _CORE_BOOL.get(text, text)
        if tag == _INT:
            try:
                return _to_int(text)
            except ValueError:  # YAML 1.1 forms such as 1:30 (base 60) stay text
                return text
        if tag == _FLOAT:
            try:
                number = _to_float(text)
            except ValueError:
                return text
            if math.isnan(number) or math.isinf(number):
                self._fail(node, "E205", f"{text!r} is not a finite number")
            return number
        self._fail(node, "E104", f"unsupported YAML tag {tag!r}; only standard YAML is allowed")
        return text


def _core_tag(text: str) -> str:
    """The YAML 1.2 core-schema tag of a plain scalar."""
    if text in _CORE_NULL:
        return _NULL
    if text in _CORE_BOOL:
        return _BOOL
    if text[:1] in "0123456789-+." and _CORE_INT.fullmatch(text):
        return _INT
    if text[:1] in "0123456789-+." and _CORE_FLOAT.fullmatch(text):
        return _FLOAT
    return _STR


class _AliasBombError(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _costly_alias(text: str) -> Any:
    """The alias whose expansion passes the bound, found from the event stream: composed
    nodes no longer say where an alias was written, only where its anchor was."""
    sizes: dict[str, int] = {}
    # One entry per open collection: [anchor, nodes so far, is a mapping, items seen]
    stack: list[list[Any]] = []
    spent = 0

    def add(count: int) -> None:
        if stack:
            stack[-1][1] += count
            stack[-1][3] += 1

    def is_key() -> bool:
        return bool(stack) and stack[-1][2] and stack[-1][3] % 2 == 0

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.ScalarEvent):
            count = 0 if is_key() else 1
            if event.anchor:
                sizes[event.anchor] = 1
            add(count)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            stack.append([event.anchor, 1, isinstance(event, yaml.MappingStartEvent), 0])
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            anchor, count, _, _ = stack.pop()
            if anchor:
                sizes[anchor] = count
            add(count)
        elif isinstance(event, yaml.AliasEvent):
            count = sizes.get(str(event.anchor), 1)
            spent += count
            if spent > MAX_ALIAS_EXPANSION:
                return event.start_mark
            add(count)
    return None


def _to_int(text: str) -> int:
    cleaned = text.replace("_", "")
    sign = -1 if cleaned.startswith("-") else 1
    digits = cleaned.lstrip("+-")
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    return sign * int(digits)


def _to_float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered in (".inf", "+.inf"):
        return math.inf
    if lowered == "-.inf":
        return -math.inf
    if lowered == ".nan":
        return math.nan
    return float(lowered)


def parse_text(text: str, path: str) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Parse one document from text. Returns the document or the reasons it has none."""
    doc = SourceDoc(path=path, data=None, lines=text.split("\n"))
    first_line = text.split("\n", 1)[0]
    match = _MODELINE.search(first_line)
    doc.schema_modeline = match.group(1) if match else None
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = yaml_problem_in_words(exc.problem or "invalid YAML", exc.context)
        return None, [Diagnostic(path, line, col, "E101", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(path, 1, 1, "E101", f"YAML syntax error: {exc}")]
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, [Diagnostic(path, 1, 1, "E106", "the file holds no document")]
    if len(nodes) > 1:
        second = nodes[1].start_mark
        return None, [
            Diagnostic(
                path,
                second.line + 1,
                second.column + 1,
                "E106",
                "one document per file: split this file at '---'",
            )
        ]
    build = _Build(doc)
    try:
        doc.data = build.value(nodes[0], ())
    except _AliasBombError as bomb:
        mark = _costly_alias(text)
        where = Pos(mark.line + 1, mark.column + 1) if mark else build._at(bomb.node)
        message = f"aliases expand past {MAX_ALIAS_EXPANSION} nodes; refusing to expand further"
        return None, [Diagnostic(path, where.line, where.col, "E103", message)]
    if build.errors:
        return None, build.errors
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__ if doc.data is not None else "empty"
        where = doc.pos(())
        message = f"a document must be a mapping of fields, found {kind}"
        return None, [Diagnostic(path, where.line, where.col, "E105", message)]
    return doc, []


def load_file(file: Path, display: str | None = None) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Read and parse one file, refusing files over the size limit before reading them."""
    name = display or str(file)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            message = f"file is {size} bytes; the limit is {MAX_FILE_BYTES} (1 MiB)"
            return None, [Diagnostic(name, 1, 1, "E100", message)]
        raw = file.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(name, 1, 1, "E107", f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        return None, [Diagnostic(name, line, col, "E107", message)]
    return parse_text(text, name)


# The YAML parser's messages, as what to fix (the parser's own words follow in brackets, for
# searching the web).
_YAML_HINTS = (
    (
        "did not find expected '-' indicator",
        "this line is not indented like the list items above it: indent it to match them, or "
        "start it with `- ` if it is another item",
    ),
    (
        "did not find expected key",
        "this line is not indented like the fields above it: line it up with them",
    ),
    (
        "mapping values are not allowed",
        'a second `: ` on one line: quote the value (`key: "a: b"`) or put the inner field '
        "on its own, indented line",
    ),
    ("did not find expected ',' or ']'", "a `[` list is not closed: add `]`"),
    ("did not find expected ',' or '}'", "a `{` mapping is not closed: add `}`"),
    (
        "found character that cannot start any token",
        "a tab or a stray character: indent "
        "with spaces, and quote values that start with `@`, `` ` `` or `%`",
    ),
    ("found unexpected end of stream", "a quoted value is not closed: add the closing quote"),
)


def yaml_problem_in_words(problem: str, context: str | None) -> str:
    """What to fix for the YAML parser's ``problem``, keeping its own words after it."""
    raw = f"{problem} ({context})" if context else problem
    for needle, hint in _YAML_HINTS:
        if needle in problem:
            return f"{hint} [{raw}]"
    return raw
