"""Dead policy outcomes: a `disclosure_check` maps an outcome (`needs_approval`, `denied`)
that its policy can never decide at that step (W309, at the mapping). The branch and the
steps only it leads to are dead: a counsel review that never happens, a refusal path never
taken.

Two things make an outcome dead. The policy alone: no rule decides it, or a rule without
`when` always decides first. Or the flow: a request fact is built from a condition known on
every way to the step (the decision that routed the case there tested the same finding), so
an earlier rule always matches, or the rules that decide the outcome never do. Each rule is
evaluated with the facts known there; a fact not known makes the rule undecided (CEL's `&&`
and `||` still decide when the known side does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sopflow.contract.conditions import negation, normalised
from sopflow.contract.expressions import evaluate, request_facts, syntax_problem
from sopflow.language.checks.known_facts import Known, known_at
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models.steps import DisclosureCheckStep

# The outcomes whose dead branches matter: a review or a refusal path that never happens. An
# `allowed` no rule decides is a policy that always asks first, a choice, not a slip.
CHECKED = ("needs_approval", "denied")

# A policy's rules as lint reads them here: (its `when`, or None for a default; its decision).
Rules = Sequence[tuple[str | None, str]]
# request fact -> (its value, the condition it was built from, the step that established it)
Facts = dict[str, tuple[bool, str, str]]


@dataclass(slots=True)
class Decisions:
    """What a policy's rules can decide at one step, and why the others cannot."""

    reachable: set[str] = field(default_factory=set)
    first: int | None = None  # the rule (1-based) that always matches, ending the walk
    never: dict[int, str] = field(default_factory=dict)  # rules that never match: decision


def check_policy_outcomes(eff: Effective, policies: Mapping[str, Rules]) -> list[Diagnostic]:
    """W309 for each mapped outcome of a disclosure check that its policy never decides."""
    checks = [
        step
        for step, _, _ in walk_steps(list(eff.sop.steps))
        if isinstance(step, DisclosureCheckStep) and step.policy in policies
    ]
    known = known_at(eff) if checks else {}
    out = []
    for step in checks:
        rules = policies[step.policy]
        facts = request_values(step.request, known.get(step.id, {}))
        for outcome in step.outcome_map():
            if outcome not in CHECKED:
                continue
            why = never_decided(step.policy, rules, outcome, facts)
            if why is not None:
                message = f"`on.{outcome}` can never be taken: {why}"
                if outcome == "denied":
                    message += "; the check can never refuse here: is it needed at all?"
                out.append(eff.diag(step.id, ("on", outcome), "W309", message))
    return out


def request_values(request: Mapping[str, str], known: Known) -> Facts:
    """The request facts whose value is known at the step."""
    out: Facts = {}
    for name, source in request.items():
        if syntax_problem(source) is not None:
            continue
        text = normalised(source)
        if text in known:
            out[name] = (known[text][0], source, known[text][1])
            continue
        inner = negation(text)
        if inner is not None and inner in known:
            out[name] = (not known[inner][0], source, known[inner][1])
    return out


def decisions(rules: Rules, facts: Facts) -> Decisions:
    """Walk the rules in order with what is known of the request."""
    request = {name: value for name, (value, _, _) in facts.items()}
    found = Decisions()
    for index, (when, decision) in enumerate(rules, start=1):
        matches = True if when is None else _matches(when, request)
        if matches is False:
            found.never[index] = decision
            continue
        found.reachable.add(decision)
        if matches is True:
            found.first = index
            break
    return found


def never_decided(policy: str, rules: Rules, outcome: str, facts: Facts) -> str | None:
    """Why ``outcome`` is never decided at a step with these known ``facts``, or None."""
    found = decisions(rules, facts)
    if outcome in found.reachable:
        return None
    deciding = [i for i, (_, d) in enumerate(rules, start=1) if d == outcome]
    if not deciding:
        return f"policy `{policy}` has no rule that decides `{outcome}`"
    if found.first is not None and rules[found.first - 1][0] is None and not found.never:
        return (
            f"policy `{policy}` rule {found.first} has no `when`: it decides "
            f"`{rules[found.first - 1][1]}` before any rule that decides `{outcome}`"
        )
    pieces, read = [], []
    if found.first is not None and any(i > found.first for i in deciding):
        when, decision = rules[found.first - 1]
        pieces.append(f"rule {found.first} (`{when}`) always decides `{decision}` first")
        read.append(when or "")
    for index in deciding:
        if index in found.never:
            when = rules[index - 1][0] or ""
            pieces.append(f"rule {index} (`{when}`) never matches")
            read.append(when)
    return f"in policy `{policy}`, " + " and ".join(pieces) + _because(read, facts)


def _matches(when: str, request: Mapping[str, bool]) -> bool | None:
    """True or False when the known facts decide ``when``; None when they do not."""
    try:
        value = evaluate(when, {"request": dict(request)})
    except Exception:  # an unknown fact, or a type CEL cannot compare: undecided
        return None
    return value if isinstance(value, bool) else None


def _because(conditions: Sequence[str], facts: Facts) -> str:
    used = dict.fromkeys(
        name for when in conditions for name, _ in request_facts(when) if name in facts
    )
    parts = [
        f"`request.{name}` (`{facts[name][1]}`) is {str(facts[name][0]).lower()} on every way "
        f"to this step (decided at `{facts[name][2]}`)"
        for name in used
    ]
    return ", because " + " and ".join(parts) if parts else ""
