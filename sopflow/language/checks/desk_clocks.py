"""Checks of the desk and wellbeing fields of human steps: a `business` SLA clock and
`follow_the_sun` read the Rota at run time, so the library needs one with a desk for the
SOP's region; an `until` must give a timestamp; a `check_in` follows a `graphic` step."""

from __future__ import annotations

import re

from sopflow.language.checks.steps import Context
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models.step_parts import SlaClock
from sopflow.language.models.steps import HumanStep, WaitStep
from sopflow.language.validation import did_you_mean


def check_desk_clocks(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """E708 for each step whose business clock or hand-offs have no desk to read."""
    if ctx.rota_broken:
        return []  # the Rota's own errors come first; its desks are unknown
    out = []
    for step, _, _ in walk_steps(list(eff.sop.steps)):
        if not isinstance(step, HumanStep):
            continue
        if isinstance(step.sla, SlaClock) and step.sla.until is not None:
            out += _timestamp(eff, step.id, ("sla", "until"), step.sla.until)
        if step.check_in is not None and not step.graphic:
            message = (
                f"step `{step.id}` asks for a `check_in` but is not marked `graphic: true`: "
                "a check-in follows graphic work (add `graphic: true`, or drop `check_in`)"
            )
            out.append(eff.diag(step.id, ("check_in",), "E205", message))
        business = isinstance(step.sla, SlaClock) and step.sla.business is not None
        if business:
            instead = "or use a plain duration, which runs 24/7"
            out += _needs_desk(
                eff, ctx, step.id, ("sla", "business"), "counts business time", instead
            )
        if step.follow_the_sun:
            instead = "or leave the step with the incident's desk (no `follow_the_sun`)"
            out += _needs_desk(eff, ctx, step.id, ("follow_the_sun",), "follows the sun", instead)
    return out


# A field, a string or a number alone: never a timestamp (input fields are JSON text).
_BARE = re.compile(r"\s*([A-Za-z_]\w*(\.[A-Za-z_]\w*)*|'[^']*'|\"[^\"]*\"|[0-9.]+)\s*")


def check_timestamps(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """E405 for a wait's `until` that is a bare field or literal (not a timestamp)."""
    out = []
    for step, _, _ in walk_steps(list(eff.sop.steps)):
        if isinstance(step, WaitStep) and step.until is not None:
            out += _timestamp(eff, step.id, ("until",), step.until)
    return out


def _timestamp(eff: Effective, step_id: str, at: tuple[str, ...], expr: str) -> list[Diagnostic]:
    if not _BARE.fullmatch(expr):
        return []
    message = (
        f"step `{step_id}`: `{'.'.join(at)}` must give a timestamp, and `{expr.strip()}` is a "
        f"value as written (input fields are JSON text): write timestamp({expr.strip()})"
    )
    return [eff.diag(step_id, at, "E405", message)]


def _needs_desk(
    eff: Effective, ctx: Context, step_id: str, at: tuple[str, ...], what: str, instead: str
) -> list[Diagnostic]:
    problem = desk_problem(eff, ctx, f"step `{step_id}` {what}", instead)
    return [] if problem is None else [eff.diag(step_id, at, "E708", problem)]


def desk_problem(eff: Effective, ctx: Context, what: str, instead: str) -> str | None:
    """E708's message when ``what`` (e.g. "step `x` follows the sun") needs the Rota's desk
    for the SOP's region and the library has no Rota, or one without that desk; else None.
    ``instead``: the way out that needs no Rota."""
    if ctx.rota_desks is None:
        return (
            f"{what}, which the Rota's desks decide, and the library has no Rota: add "
            f"rota.yaml (docs/rota.md), {instead}"
        )
    if eff.region in ctx.rota_desks:
        return None
    hint = did_you_mean(eff.region, sorted(ctx.rota_desks))
    return (
        f"{what}, which the {eff.region} desk decides, and the Rota has no desk "
        f"{eff.region}{hint}: add one (desks are named after regions)"
    )
