"""Conditions as facts: what a CEL condition that held (or failed) tells about its parts.

Lint uses this to know, at a step, which conditions hold on every way to it: a decision
branch taken means its `when` held and the earlier branches' failed; `a && b` held means
both held; `a || b` failed means both failed; `!a` held means `a` failed. Conditions are
compared as text with the spaces outside strings taken out, so `a&&b` and `a && b` are one.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from sopflow.contract.expressions import Token, references, syntax_problem, tokens

# The names whose values never change once set: an incident's input, and a step's output
# and status until that step runs again. Conditions on anything else (the severity, an
# event) may change later, so they are never facts.
STABLE_VARIABLES = frozenset({"input", "steps"})
_BINARY = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "?", "in")


@lru_cache(maxsize=8192)
def normalised(source: str) -> str:
    """``source`` without spaces outside strings and without parentheses around it all."""
    toks = tokens(source)
    while len(toks) >= 2 and toks[0].text == "(" and _closing(toks, 0) == len(toks) - 1:
        toks = toks[1:-1]
    return _join(toks)


@lru_cache(maxsize=8192)
def facts_of(source: str, held: bool) -> tuple[tuple[str, bool], ...]:
    """(normalised condition, value) for ``source`` and every part its value decides. Only
    conditions that parse and read only stable names are facts. Cached: every variant
    re-reads its base's conditions."""
    return tuple(_facts_of(source, held))


def _facts_of(source: str, held: bool) -> Iterator[tuple[str, bool]]:
    if syntax_problem(source) is not None or not stable(source):
        return
    text = normalised(source)
    yield text, held
    toks = tokens(text)
    operator = "&&" if held else "||"
    parts = _split(toks, operator)
    if len(parts) > 1:
        for part in parts:
            yield from _facts_of(_join(part), held)
        return
    negated = negation(text)
    if negated is not None:
        yield from _facts_of(negated, not held)


@lru_cache(maxsize=8192)
def negation(text: str) -> str | None:
    """The operand of ``!operand`` when the `!` applies to the whole of ``text``."""
    toks = tokens(text)
    if len(toks) < 2 or toks[0].text != "!" or toks[1].text == "=":
        return None
    rest = toks[1:]
    if _split_any(rest):
        return None  # `!a == b` is `(!a) == b`: not the negation of the whole
    return normalised(_join(rest))


def stable(source: str) -> bool:
    """Whether ``source`` reads only names whose values stay as they are (see above)."""
    names = {name for name, _ in references(source).variables}
    return bool(names) and names <= STABLE_VARIABLES


@lru_cache(maxsize=8192)
def steps_read(source: str) -> frozenset[str]:
    """The step ids ``source`` reads (``steps.<id>`` and ``steps["<id>"]``)."""
    return frozenset(step for step, *_ in references(source).steps)


def _closing(toks: list[Token], start: int) -> int:
    depth = 0
    for index in range(start, len(toks)):
        if toks[index].text in "([{":
            depth += 1
        elif toks[index].text in ")]}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _top_level(toks: list[Token]) -> Iterator[tuple[int, str]]:
    """(index, operator) of each binary operator outside brackets; `&&` and `||` are two
    one-character tokens."""
    depth = 0
    for index, tok in enumerate(toks):
        if tok.kind != "punct" and tok.text != "in":
            continue
        if tok.text in "([{":
            depth += 1
        elif tok.text in ")]}":
            depth -= 1
        elif depth == 0:
            pair = tok.text + (toks[index + 1].text if index + 1 < len(toks) else "")
            if pair in ("&&", "||", "==", "!=", "<=", ">="):
                yield index, pair
            elif tok.text in _BINARY and not _is_pair_tail(toks, index):
                yield index, tok.text


def _is_pair_tail(toks: list[Token], index: int) -> bool:
    """Whether ``toks[index]`` is the second character of a two-character operator."""
    if index == 0:
        return False
    return toks[index - 1].text + toks[index].text in ("&&", "||", "==", "!=", "<=", ">=")


def _split(toks: list[Token], operator: str) -> list[list[Token]]:
    cuts = [index for index, op in _top_level(toks) if op == operator]
    if not cuts:
        return [toks]
    parts, start = [], 0
    for cut in cuts:
        parts.append(toks[start:cut])
        start = cut + 2
    parts.append(toks[start:])
    return parts


def _split_any(toks: list[Token]) -> bool:
    return any(True for _ in _top_level(toks))


def _join(toks: list[Token]) -> str:
    out = []
    for index, tok in enumerate(toks):
        if index and tok.kind != "punct" and toks[index - 1].kind != "punct":
            out.append(" ")  # `x in y` keeps its spaces
        out.append(tok.text)
    return "".join(out)
