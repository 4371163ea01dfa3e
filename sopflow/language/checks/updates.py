"""Checks of an SOP's stakeholder update cadence (``updates``): known severities (E318),
cadences neither too short nor with a grace as long as themselves (E319), declared roles
(E302), named destinations that serve the SOP's desk (E316, E317), a Rota with the SOP's
desk for a cadence that follows the sun (E708), and templates whose placeholders read names
that exist there (E400-E404). That the Rota has someone on call for a follow-the-sun
cadence's roles at all times is the Rota's 24/7 check (E707, ``checks.rota_cover``).
"""

from __future__ import annotations

from sopflow.contract.expressions import SOP_VARIABLES, Scope, check_expression, placeholders
from sopflow.contract.expressions import references as expression_references
from sopflow.contract.updates import (
    DEFAULT_ESCALATE_AFTER_S,
    MIN_ESCALATE_AFTER_S,
    MIN_EVERY_S,
    SEVERITIES,
    UPDATE_FIELDS,
    UPDATE_VARIABLE,
)
from sopflow.language.checks.desk_clocks import desk_problem
from sopflow.language.checks.steps import Context
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.durations import format_duration, parse_duration
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models.updates import UpdateCadence
from sopflow.language.validation import did_you_mean

Path = tuple[str | int, ...]


def check_updates(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """Every problem of the SOP's `updates`, at the value that causes it."""
    out: list[Diagnostic] = []
    for severity, cadence in (eff.sop.updates or {}).items():
        at: Path = ("updates", severity)
        if severity not in SEVERITIES:
            hint = did_you_mean(severity, list(SEVERITIES))
            message = (
                f"`updates` names severity `{severity}`{hint}: severities are "
                f"{', '.join(SEVERITIES)}"
            )
            out.append(eff.base.source.diag(at, "E318", message, key=True))
            continue
        out.extend(_check_timing(eff, at, cadence))
        out.extend(_check_roles(eff, at, cadence))
        out.extend(_check_destination(eff, ctx, at, cadence))
        if cadence.follow_the_sun and not ctx.rota_broken:
            what = f"the {severity} update cadence follows the sun"
            instead = "or ask the incident's own desk (no `follow_the_sun`)"
            if (problem := desk_problem(eff, ctx, what, instead)) is not None:
                out.append(eff.base.source.diag((*at, "follow_the_sun"), "E708", problem))
        if cadence.template is not None:
            out.extend(_check_template(eff, (*at, "template"), cadence.template))
    return out


def _check_timing(eff: Effective, at: Path, cadence: UpdateCadence) -> list[Diagnostic]:
    every = parse_duration(cadence.every)
    if every < MIN_EVERY_S:
        message = (
            f"an update every {cadence.every} is too often: stakeholders are asked at most "
            f"every {format_duration(MIN_EVERY_S)}"
        )
        return [eff.base.source.diag((*at, "every"), "E319", message)]
    written = cadence.escalate_after
    grace = parse_duration(written) if written is not None else DEFAULT_ESCALATE_AFTER_S
    where: Path = (*at, "escalate_after") if written is not None else (*at, "every")
    if grace < MIN_ESCALATE_AFTER_S:
        message = (
            f"`escalate_after: {written}` leaves no time to write an update: at least "
            f"{format_duration(MIN_ESCALATE_AFTER_S)}"
        )
        return [eff.base.source.diag(where, "E319", message)]
    if grace >= every:
        shown = written or f"{format_duration(grace)} (the default)"
        message = (
            f"`escalate_after` {shown} is not shorter than `every: {cadence.every}`: an "
            "update would be asked again before the last one could be missed; write a "
            "shorter `escalate_after`"
        )
        return [eff.base.source.diag(where, "E319", message)]
    return []


def _check_roles(eff: Effective, at: Path, cadence: UpdateCadence) -> list[Diagnostic]:
    declared = sorted(eff.sop.roles)
    named: list[tuple[Path, str]] = [((*at, "asked"), cadence.asked)]
    if cadence.to is not None:
        named.append(((*at, "to"), cadence.to))
    named += [((*at, "escalate", i), role) for i, role in enumerate(cadence.escalate or [])]
    if cadence.escalate is None:
        named.append(((*at, "escalate"), "lead"))  # the default chain
    out = []
    for path, role in named:
        if role in eff.sop.roles:
            continue
        field = str(path[2])
        default = "" if field in cadence.model_fields_set else " (the default)"
        hint = did_you_mean(role, declared)
        message = f"`{field}` names role `{role}`{default}, which the SOP does not declare{hint}"
        # A default has no place of its own: report it at the cadence.
        out.append(eff.base.source.diag(path if default == "" else at, "E302", message))
    return out


def _check_destination(
    eff: Effective, ctx: Context, at: Path, cadence: UpdateCadence
) -> list[Diagnostic]:
    name = cadence.destination
    if name is None or ctx.destinations_broken:
        return []
    known = ctx.destinations or {}
    spec = known.get(name)
    where = (*at, "destination")
    if spec is None:
        hint = did_you_mean(name, sorted(known)) if known else ""
        declared = "the Destinations document" if known else "the library (it declares none)"
        message = f"no destination `{name}` in {declared}{hint}"
        return [eff.base.source.diag(where, "E316", message)]
    if spec.regions is not None and eff.region not in spec.regions:
        message = (
            f"destination `{name}` serves the {', '.join(spec.regions)} desk(s) only; this "
            f"SOP runs on the {eff.region} desk"
        )
        return [eff.base.source.diag(where, "E317", message)]
    return []


def _scope(eff: Effective) -> Scope:
    steps = [s for s, _, _ in walk_steps(list(eff.sop.steps))]
    properties = eff.sop.input.get("properties")
    return Scope(
        allowed=(*SOP_VARIABLES, UPDATE_VARIABLE),
        step_ids=frozenset(s.id for s in steps),
        outputs={s.id: s.output_fields() for s in steps},
        input_fields=sorted(properties) if isinstance(properties, dict) else None,
    )


def _check_template(eff: Effective, path: Path, template: str) -> list[Diagnostic]:
    source = eff.base.source
    scope = _scope(eff)
    out = []
    found, unclosed = placeholders(template)
    for expr, offset in found:
        problems: list[tuple[str, str, int]] = []
        if not expr:
            problems.append(("E403", "empty `{{ }}`", 0))
        else:
            found_problems = check_expression(expr, scope)
            problems += [(p.code, p.message, p.offset) for p in found_problems]
            if not any(p.code == "E400" for p in found_problems):
                problems += _update_members(expr)  # it parses: its members can be read
        for code, message, at in problems:
            pos = source.expr_pos(path, offset + at)
            out.append(Diagnostic(source.path, pos.line, pos.col, code, message))
    if unclosed is not None:
        pos = source.expr_pos(path, unclosed)
        out.append(
            Diagnostic(source.path, pos.line, pos.col, "E403", "`{{` is not closed with `}}`")
        )
    return out


def _update_members(expr: str) -> list[tuple[str, str, int]]:
    """`update` has only the fields an update fills in."""
    out = []
    for variable, field, offset in expression_references(expr).members:
        if variable == UPDATE_VARIABLE and field not in UPDATE_FIELDS:
            hint = did_you_mean(field, list(UPDATE_FIELDS))
            fields = ", ".join(UPDATE_FIELDS)
            out.append(("E404", f"`update` has no field `{field}` (it has {fields}){hint}", offset))
    return out
