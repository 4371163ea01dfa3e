"""CEL expressions: compile at lint time, find the names they use, and evaluate at run time.

The CEL engine (package ``common-expression-language``) parses and evaluates; it reports the
variables an expression uses, but not the member chains (``steps.verify.output``) nor which
names a comprehension binds. ``references`` adds both with a small tokenizer that skips string
literals, so a lint can say "no step `verfy`" at the right column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel

# The names an SOP expression may use, and the fields each structured one has.
SOP_VARIABLES = ("input", "steps", "incident", "now")
# A triage rule's `when` also sees what the step's enrichers returned, by enrichment name.
ENRICHMENT = "enrichment"
TRIAGE_RULE_VARIABLES = (*SOP_VARIABLES, ENRICHMENT)
INCIDENT_FIELDS = (
    "id",
    "sop",
    "version",
    "region",
    "severity",
    "labels",
    "opened_at",
    "sla_breached",
)
STEP_FIELDS = ("status", "output")
POLICY_VARIABLES = ("request",)

_MACROS = ("all", "exists", "exists_one", "map", "filter")
_TOKEN = re.compile(
    r"""(?P<str>[rRbB]*("{3}.*?"{3}|'{3}.*?'{3}|"(\\.|[^"\\])*"|'(\\.|[^'\\])*'))"""
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>\S)",
    re.DOTALL,
)
_CEL_POS = re.compile(r"<input>:(\d+):(\d+): (.*)")


@dataclass(frozen=True, slots=True)
class ExprProblem:
    """A problem inside one expression: a code, a message, the 0-based offset in the source."""

    code: str
    message: str
    offset: int


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    offset: int


def tokens(source: str) -> list[Token]:
    """The tokens of ``source``: strings, identifiers and one-character punctuation."""
    return _tokens(source)


def _tokens(source: str) -> list[Token]:
    out = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "punct"
        if kind not in ("str", "ident", "punct"):
            kind = "str"
        out.append(Token(kind, match.group(0), match.start()))
    return out


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> cel.Program:
    """The compiled program; raises ValueError on a syntax error. Cached: SOPs repeat them."""
    return cel.compile(source)


def syntax_problem(source: str) -> ExprProblem | None:
    """The first syntax error in ``source``, with its offset, or None when it parses."""
    try:
        compile_expression(source)
    except ValueError as exc:
        text = str(exc)
        found = _CEL_POS.search(text)
        if not found:
            return ExprProblem("E400", f"CEL syntax error: {text}", 0)
        line, col, message = int(found.group(1)), int(found.group(2)), found.group(3)
        offset = sum(len(row) + 1 for row in source.split("\n")[: line - 1]) + col - 1
        offset = min(max(offset, 0), len(source))
        return ExprProblem("E400", f"CEL syntax error: {in_words(message, source)}", offset)
    return None


# Words people write for CEL's operators (CEL has no `and`, `or`, `not`, `=`).
_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!", "AND": "&&", "OR": "||", "NOT": "!"}
_MISMATCHED = re.compile(r"(?:mismatched|extraneous) input '(.*?)' expecting (.*)$", re.DOTALL)
_TOKEN_ERROR = re.compile(r"token recognition error at: '(.*)'$", re.DOTALL)


def in_words(message: str, source: str) -> str:
    """The CEL parser's message as an author needs it: what to write instead, not the
    grammar's word sets."""
    text = message.strip().removeprefix("Syntax error:").strip()
    found = _MISMATCHED.search(text)
    if found:
        word, expecting = found.group(1), found.group(2)
        if word in _WORD_OPERATORS:
            return f"use `{_WORD_OPERATORS[word]}` instead of `{word}`"
        if re.search(r"\bnot\s", source) and word != "<EOF>":
            return "use `!` instead of `not` (e.g. `!steps.review.output.located`)"
        if word == "<EOF>":
            return "the expression ends too early: something must follow the last operator"
        if "'&&'" in expecting:
            return f"unexpected `{word}`: an operator (`==`, `&&`, `||`, `in`...) or the end"
        return f"unexpected `{word}`"
    found = _TOKEN_ERROR.search(text)
    if found:
        word = found.group(1).strip()
        if word.startswith("="):
            return "use `==` to compare (`=` alone is not an operator)"
        if word[:1] in "'\"":
            return f"a string is not closed: add the closing {word[:1]}"
        return f"`{word}` is not part of CEL"
    if text.startswith("missing ')'"):
        return "a `(` is not closed: add `)`"
    return text


@dataclass(frozen=True, slots=True)
class References:
    """What an expression reads: free variable uses and step references."""

    variables: tuple[tuple[str, int], ...]
    # (step id, field or None, offset of the id, offset of the field or -1)
    steps: tuple[tuple[str, str | None, int, int], ...]
    members: tuple[tuple[str, str, int], ...]  # (variable, field, offset), e.g. incident.sevrity
    # steps.<id>.output.<name>: (step id, name, offset of name)
    outputs: tuple[tuple[str, str, int], ...]


@lru_cache(maxsize=8192)
def references(source: str) -> References:
    """Names ``source`` uses at its top level. Assumes it parses. Cached: every variant
    re-checks its base's expressions."""
    toks = _tokens(source)
    bound = _comprehension_vars(toks)
    variables: list[tuple[str, int]] = []
    steps: list[tuple[str, str | None, int, int]] = []
    outputs: list[tuple[str, str, int]] = []
    members: list[tuple[str, str, int]] = []
    for i, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text in bound:
            continue
        prev = toks[i - 1] if i else None
        following = toks[i + 1] if i + 1 < len(toks) else None
        if prev is not None and prev.text == ".":
            continue  # a member, not a variable
        if following is not None and following.text == "(":
            continue  # a function call
        if tok.text in ("true", "false", "null", "in"):
            continue
        variables.append((tok.text, tok.offset))
        if tok.text == "steps":
            ref = _step_ref(toks, i)
            if ref is not None:
                name, field_tok, offset, output_tok = ref
                field = field_tok.text if field_tok else None
                steps.append((name, field, offset, field_tok.offset if field_tok else -1))
                if output_tok is not None:
                    outputs.append((name, output_tok.text, output_tok.offset))
        elif _is_dot_member(toks, i):
            members.append((tok.text, toks[i + 2].text, toks[i + 2].offset))
    return References(tuple(variables), tuple(steps), tuple(members), tuple(outputs))


def _is_dot_member(toks: list[Token], i: int) -> bool:
    return i + 2 < len(toks) and toks[i + 1].text == "." and toks[i + 2].kind == "ident"


def _step_ref(toks: list[Token], i: int) -> tuple[str, Token | None, int, Token | None] | None:
    """``steps.x.f`` or ``steps["x"].f`` (and ``.output.name``) starting at token ``i``."""
    if _is_dot_member(toks, i):
        name_tok, after = toks[i + 2], i + 3
    elif (
        i + 3 < len(toks)
        and toks[i + 1].text == "["
        and toks[i + 2].kind == "str"
        and toks[i + 3].text == "]"
    ):
        name_tok, after = toks[i + 2], i + 4
    else:
        return None
    name = name_tok.text if name_tok.kind == "ident" else _unquote(name_tok.text)
    field = toks[after + 1] if _is_dot_member(toks, after - 1) else None
    is_output = field is not None and field.text == "output"
    output_name = toks[after + 3] if is_output and _is_dot_member(toks, after + 1) else None
    return name, field, name_tok.offset + (0 if name_tok.kind == "ident" else 1), output_name


def _unquote(literal: str) -> str:
    body = literal.lstrip("rRbB")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[0]
    return body[len(quote) : -len(quote)]


def _comprehension_vars(toks: list[Token]) -> set[str]:
    # `.all(x, ...)`, `.map(x, ...)` and friends bind `x`; it is not a free variable.
    bound = set()
    for i in range(len(toks) - 3):
        if (
            toks[i].text == "."
            and toks[i + 1].text in _MACROS
            and toks[i + 2].text == "("
            and toks[i + 3].kind == "ident"
        ):
            bound.add(toks[i + 3].text)
    return bound


@dataclass(frozen=True, slots=True)
class Scope:
    """What an expression may refer to where it stands. None means "not known: not checked"."""

    allowed: tuple[str, ...] = SOP_VARIABLES
    step_ids: frozenset[str] | None = None
    # step id -> the fields of its output (None: open, e.g. an event's data)
    outputs: Mapping[str, list[str] | None] | None = None
    # the properties of the SOP's input schema, when it declares them
    input_fields: list[str] | None = None
    # the enrichment names a triage rule can read (its step's `enrich`), where `enrichment`
    # is allowed
    enrichment: tuple[str, ...] | None = None


def check_expression(source: str, scope: Scope = Scope()) -> list[ExprProblem]:
    """Every problem in one expression: syntax, unknown names, unknown steps and members
    (a typo in ``steps.verify.output.verfied`` is caught at lint time, not on a live case)."""
    allowed, step_ids, outputs, input_fields = (
        scope.allowed,
        scope.step_ids,
        scope.outputs,
        scope.input_fields,
    )
    problem = syntax_problem(source)
    if problem is not None:
        return [problem]
    refs = references(source)
    problems: list[ExprProblem] = []
    hyphen_tails = _hyphenated_step_refs(source, refs, step_ids)
    for name, offset in refs.variables:
        if offset in hyphen_tails:
            continue
        if name not in allowed:
            problems.append(
                ExprProblem("E401", _unknown_name_message(name, allowed, source, offset), offset)
            )
    if step_ids is not None:
        for step_id, field, offset, field_offset in refs.steps:
            dashed = _dashed_name(source, offset + len(step_id))
            if step_id not in step_ids and dashed and f"{step_id}-{dashed}" in step_ids:
                message = (
                    f'write steps["{step_id}-{dashed}"]: in CEL `-` is minus, so '
                    f"steps.{step_id}-{dashed} reads as steps.{step_id} minus {dashed}"
                )
                problems.append(ExprProblem("E402", message, offset))
            elif step_id not in step_ids:
                hint = _close(step_id, sorted(step_ids))
                problems.append(
                    ExprProblem("E402", f"no step `{step_id}` in this SOP{hint}", offset)
                )
            elif field is not None and field not in STEP_FIELDS:
                message = f"a step has `status` and `output`, not `{field}`"
                message += _close(field, list(STEP_FIELDS))
                problems.append(ExprProblem("E404", message, field_offset))
    for step_id, name, offset in refs.outputs:
        known = (outputs or {}).get(step_id)
        if known is not None and name not in known:
            hint = _close(name, known)
            listed = ", ".join(known) or "nothing"
            message = f"the output of `{step_id}` has no field `{name}` (it has {listed}){hint}"
            problems.append(ExprProblem("E404", message, offset))
    for variable, field, offset in refs.members:
        if variable == "input" and input_fields is not None and field not in input_fields:
            hint = _close(field, input_fields)
            message = f"the SOP's `input` schema has no property `{field}`{hint}"
            problems.append(ExprProblem("E404", message, offset))
        if variable == "incident" and field not in INCIDENT_FIELDS:
            hint = _close(field, list(INCIDENT_FIELDS))
            problems.append(ExprProblem("E404", f"`incident` has no field `{field}`{hint}", offset))
        enriched = scope.enrichment
        if variable == ENRICHMENT and enriched is not None and field not in enriched:
            problems.append(ExprProblem("E404", _not_enriched(field, enriched), offset))
    return problems


def _not_enriched(name: str, known: tuple[str, ...]) -> str:
    if not known:
        return f"`enrichment` is empty: this step's `enrich` names nothing, not `{name}`"
    listed = ", ".join(known)
    hint = _close(name, list(known))
    return f"`enrichment` has only what this step's `enrich` names ({listed}), not `{name}`{hint}"


_DASHED = re.compile(r"\s*-\s*([A-Za-z_][A-Za-z0-9_]*)")


def _dashed_name(source: str, end: int) -> str | None:
    found = _DASHED.match(source, end)
    return found.group(1) if found else None


def _hyphenated_step_refs(
    source: str, refs: References, step_ids: frozenset[str] | None
) -> set[int]:
    """Offsets of the names after a minus in ``steps.a-b``, when ``a-b`` is a real step:
    one problem (the step reference) explains both halves."""
    if step_ids is None:
        return set()
    skip = set()
    for step_id, _, offset, _ in refs.steps:
        end = offset + len(step_id)
        found = _DASHED.match(source, end)
        if found and f"{step_id}-{found.group(1)}" in step_ids:
            skip.add(found.start(1))
    return skip


def request_facts(source: str) -> list[tuple[str, int]]:
    """The ``request.<fact>`` names a policy condition reads, with their offsets."""
    if syntax_problem(source) is not None:
        return []
    return [(f, off) for var, f, off in references(source).members if var == "request"]


def _unknown_name_message(name: str, allowed: tuple[str, ...], source: str, offset: int) -> str:
    message = f"unknown name `{name}`; expressions here can use {', '.join(allowed)}"
    if name == ENRICHMENT:
        return message + (
            " (only a triage rule's `when` reads `enrichment`; later steps read "
            "steps.<triage step id>.output.enrichment)"
        )
    if offset > 0 and source[:offset].rstrip().endswith("-"):
        message += " (a step id with '-' is written steps[\"a-b\"], since '-' is minus in CEL)"
    return message + _close(name, list(allowed))


def _close(word: str, options: list[str]) -> str:
    import difflib

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean `{found[0]}`?)" if found else ""


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def placeholders(template: str) -> tuple[list[tuple[str, int]], int | None]:
    """The ``{{ expr }}`` parts of ``template`` as (expr, offset), and the offset of an
    unclosed ``{{`` if there is one."""
    found = []
    end = 0
    for match in _PLACEHOLDER.finditer(template):
        inner = match.group(1)
        lead = len(inner) - len(inner.lstrip())
        found.append((inner.strip(), match.start(1) + lead))
        end = match.end()
    rest = template.find("{{", end)
    return found, (rest if rest >= 0 else None)


@lru_cache(maxsize=4096)
def _names(source: str) -> tuple[str, ...]:
    return tuple(compile_expression(source).variables())


_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# What a path may end on to skip CEL: the types CEL hands back unchanged from plain data
# (an int only within int64: CEL turns larger ones into other types).
_PLAIN = (str, bool, float)
_INT64 = range(-(2**63), 2**63)
_NOT_PLAIN = object()


@lru_cache(maxsize=4096)
def _path(source: str) -> tuple[str, ...] | None:
    """The names of ``a.b.c`` when ``source`` is nothing but such a path, else None. It must
    also compile (a CEL reserved word raises here, as evaluating it would)."""
    if not _PATH.fullmatch(source):
        return None
    compile_expression(source)
    return tuple(source.split("."))


def _lookup(path: tuple[str, ...], variables: Mapping[str, Any]) -> Any:
    """The value at ``path`` when every step is a key of a plain dict and it ends on a str,
    bool, float or int64: what CEL would return. ``_NOT_PLAIN`` otherwise (CEL then decides,
    errors included)."""
    value: Any = variables.get(path[0], _NOT_PLAIN)
    for name in path[1:]:
        if type(value) is not dict or name not in value:
            return _NOT_PLAIN
        value = value[name]
    if type(value) in _PLAIN or (type(value) is int and value in _INT64):
        return value
    return _NOT_PLAIN


def evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate a compiled-at-lint-time expression against plain data. Only the names the
    expression reads are handed to CEL: converting the whole context (every step's output,
    the whole input) for each condition was most of an evaluation's cost. A bare path to a
    plain value (``input.urgent``, a template's ``{{ incident.id }}``) is read directly, with
    the same result; anything else, or a path CEL would refuse, goes to CEL."""
    path = _path(source)
    if path is not None:
        value = _lookup(path, variables)
        if value is not _NOT_PLAIN:
            return value
    needed = {name: variables[name] for name in _names(source) if name in variables}
    return compile_expression(source).execute(needed)


def render_template(template: str, variables: Mapping[str, Any]) -> str:
    """Fill ``{{ expr }}`` placeholders with the values of their expressions."""

    def fill(match: re.Match[str]) -> str:
        value = evaluate(match.group(1).strip(), variables)
        return str(value).lower() if isinstance(value, bool) else str(value)

    return _PLACEHOLDER.sub(fill, template)
