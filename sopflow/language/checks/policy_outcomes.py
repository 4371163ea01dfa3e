"""Dead policy outcomes: a `disclosure_check` maps an outcome (`needs_approval`, `denied`)
that its policy can never decide, because no rule decides it or because a rule without `when`
always decides first. The branch and the steps only it leads to are dead: a counsel review
that never happens, a refusal path never taken (W309, at the mapping).

This reads the policy alone. Facts known on every way to the step (a decision that routed
the case on the same finding) can make more outcomes dead; that needs the flow and is not
checked here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models.steps import DisclosureCheckStep

# The outcomes whose dead branches matter: a review or a refusal path that never happens. An
# `allowed` no rule decides is a policy that always asks first, a choice, not a slip.
CHECKED = ("needs_approval", "denied")

# A policy's rules as lint reads them here: (its `when`, or None for a default; its decision).
Rules = Sequence[tuple[str | None, str]]


def check_policy_outcomes(eff: Effective, policies: Mapping[str, Rules]) -> list[Diagnostic]:
    """W309 for each mapped outcome of a disclosure check that its policy never decides."""
    out = []
    for step, _, _ in walk_steps(list(eff.sop.steps)):
        if not isinstance(step, DisclosureCheckStep) or step.policy not in policies:
            continue
        rules = policies[step.policy]
        for outcome in step.outcome_map():
            if outcome not in CHECKED:
                continue
            why = _never(step.policy, rules, outcome)
            if why is not None:
                message = f"`on.{outcome}` can never be taken: {why}"
                if outcome == "denied":
                    message += "; the check can never refuse here: is it needed at all?"
                out.append(eff.diag(step.id, ("on", outcome), "W309", message))
    return out


def _never(policy: str, rules: Rules, outcome: str) -> str | None:
    """Why ``outcome`` is never decided, or None when some rule may decide it."""
    for index, (when, decision) in enumerate(rules, start=1):
        if decision == outcome:
            return None
        if when is None:
            later = any(d == outcome for _, d in rules[index:])
            if later:
                return (
                    f"policy `{policy}` rule {index} has no `when`: it decides `{decision}` "
                    f"before any rule that decides `{outcome}`"
                )
            break
    return f"policy `{policy}` has no rule that decides `{outcome}`"
