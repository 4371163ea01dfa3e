"""Lint-time checks of every CEL expression in an SOP and in disclosure policies.

Each expression is reported at the line and column of the offending character when the YAML
scalar sits on one line (plain or quoted); otherwise at the start of the scalar.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import assert_never

from sopflow.contract.expressions import (
    POLICY_VARIABLES,
    SOP_VARIABLES,
    TRIAGE_RULE_VARIABLES,
    Scope,
    check_expression,
    placeholders,
)
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.library import Loaded
from sopflow.language.models import DisclosurePolicyDoc
from sopflow.language.models.step_parts import SlaClock
from sopflow.language.models.steps import (
    ApprovalStep,
    DecisionStep,
    DisclosureCheckStep,
    EndStep,
    NotifyStep,
    OpenIncidentStep,
    ParallelStep,
    PostmortemStep,
    Step,
    TaskStep,
    TriageStep,
    WaitStep,
)
from sopflow.language.validation import did_you_mean

FieldPath = tuple[str | int, ...]


def expressions_of(step: Step, roles: list[str]) -> Iterator[tuple[FieldPath, str]]:
    """(field path inside the step, CEL source) for every expression a step holds (the steps
    inside a parallel step are steps of their own)."""
    if step.when is not None:
        yield ("when",), step.when
    match step:
        case TriageStep():
            for i, rule in enumerate(step.rules):
                if rule.when is not None:
                    yield ("rules", i, "when"), rule.when
        case DecisionStep():
            for i, branch in enumerate(step.branches):
                if branch.when is not None:
                    yield ("branches", i, "when"), branch.when
        case DisclosureCheckStep():
            for name, expr in step.request.items():
                yield ("request", name), expr
        case WaitStep():
            if step.until is not None:
                yield ("until",), step.until
        case NotifyStep():
            if step.to is not None and step.to not in roles:
                yield ("to",), step.to
        case TaskStep() | ApprovalStep():
            if isinstance(step.sla, SlaClock) and step.sla.until is not None:
                yield ("sla", "until"), step.sla.until
        case OpenIncidentStep():
            for name, expr in step.input.items():
                yield ("input", name), expr
        case ParallelStep() | PostmortemStep() | EndStep():
            pass
        case _:
            assert_never(step)


def _scope_at(scope: Scope, step: Step, path: FieldPath) -> Scope:
    """A triage rule's `when` runs after the step's enrichment: it also reads `enrichment`,
    which holds the names the step's `enrich` lists."""
    if isinstance(step, TriageStep) and path[0] == "rules":
        return replace(scope, allowed=TRIAGE_RULE_VARIABLES, enrichment=tuple(step.enrich))
    return scope


def check_sop_expressions(eff: Effective) -> list[Diagnostic]:
    """Syntax, names and step references of every expression and message placeholder."""
    steps = [s for s, _, _ in walk_steps(list(eff.sop.steps))]
    properties = eff.sop.input.get("properties")
    scope = Scope(
        allowed=SOP_VARIABLES,
        step_ids=frozenset(s.id for s in steps),
        outputs={s.id: s.output_fields() for s in steps},
        input_fields=sorted(properties) if isinstance(properties, dict) else None,
    )
    roles = list(eff.sop.roles)
    out: list[Diagnostic] = _check_correlation(eff, scope)
    for step in steps:
        for path, source in expressions_of(step, roles):
            for problem in check_expression(source, _scope_at(scope, step, path)):
                code, message = problem.code, problem.message
                if path == ("to",) and code in ("E400", "E401"):
                    # `to` is a role or an expression; a bare word is most likely a role.
                    code = "E302" if code == "E401" else code
                    hint = did_you_mean(source, roles)
                    message = (
                        f"`to` is not a declared role{hint}, nor a valid expression: {message}"
                    )
                out.append(eff.expr_diag(step.id, path, problem.offset, code, message))
        if isinstance(step, NotifyStep):
            out.extend(_check_message(eff, step, scope))
    return out


def _check_correlation(eff: Effective, scope: Scope) -> list[Diagnostic]:
    """`correlation` is evaluated as the incident starts: it reads the input alone."""
    source = eff.sop.correlation
    if source is None:
        return []
    alone = replace(scope, allowed=("input",), step_ids=None, outputs=None)
    # In the variant when its `set_correlation` wrote it, else in the base.
    doc, path = eff.sop_where.get("correlation", (eff.base.source, ("correlation",)))
    out = []
    for problem in check_expression(source, alone):
        at = doc.expr_pos(path, problem.offset)
        out.append(Diagnostic(doc.path, at.line, at.col, problem.code, problem.message))
    return out


def _check_message(
    eff: Effective,
    step: NotifyStep,
    scope: Scope,
) -> list[Diagnostic]:
    out = []
    found, unclosed = placeholders(step.message)
    for source, offset in found:
        if not source:
            out.append(eff.expr_diag(step.id, ("message",), offset, "E403", "empty `{{ }}`"))
            continue
        for problem in check_expression(source, scope):
            at = offset + problem.offset
            out.append(eff.expr_diag(step.id, ("message",), at, problem.code, problem.message))
    if unclosed is not None:
        message = "`{{` is not closed with `}}`"
        out.append(eff.expr_diag(step.id, ("message",), unclosed, "E403", message))
    return out


def check_policy(policy: Loaded[DisclosurePolicyDoc]) -> list[Diagnostic]:
    """A policy's rule conditions see only `request`; its last rule must be the default."""
    out = []
    source = policy.source
    for i, rule in enumerate(policy.model.rules):
        if rule.when is None:
            continue
        path = ("rules", i, "when")
        for problem in check_expression(rule.when, Scope(allowed=POLICY_VARIABLES)):
            at = source.expr_pos(path, problem.offset)
            out.append(Diagnostic(source.path, at.line, at.col, problem.code, problem.message))
    for i, rule in enumerate(policy.model.rules[:-1]):
        if rule.when is None:
            later = len(policy.model.rules) - i - 1
            message = (
                f"rules[{i}] has no `when`, so it always matches: the {later} after it can "
                "never decide; put the default last"
            )
            out.append(source.diag(("rules", i + 1), "W304", message))
            break
    if policy.model.rules[-1].when is not None:
        message = (
            "the last rule must have no `when` (the default, usually `denied`), so every "
            "request gets a recorded decision"
        )
        out.append(source.diag(("rules", len(policy.model.rules) - 1), "E307", message))
    return out
