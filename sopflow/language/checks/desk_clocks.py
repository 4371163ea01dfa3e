"""Checks of the follow-the-sun fields of human steps: a `business` SLA clock and
`follow_the_sun` read the Rota at run time, so the library needs one with a desk for the
SOP's region. (`sla: {until: ...}` is an expression, checked with the others.)"""

from __future__ import annotations

from sopflow.language.checks.steps import Context
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models.steps import HumanStep, SlaClock
from sopflow.language.validation import did_you_mean


def check_desk_clocks(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """E708 for each step whose business clock or hand-offs have no desk to read."""
    out = []
    for step, _, _ in walk_steps(list(eff.sop.steps)):
        if not isinstance(step, HumanStep):
            continue
        business = isinstance(step.sla, SlaClock) and step.sla.business is not None
        if business:
            out += _needs_desk(eff, ctx, step.id, ("sla", "business"), "counts business time")
        if step.follow_the_sun:
            out += _needs_desk(eff, ctx, step.id, ("follow_the_sun",), "follows the sun")
    return out


def _needs_desk(
    eff: Effective, ctx: Context, step_id: str, at: tuple[str, ...], what: str
) -> list[Diagnostic]:
    if ctx.rota_desks is None:
        message = (
            f"step `{step_id}` {what}, which the Rota's desks decide, and the library has no "
            "Rota: add rota.yaml (docs/rota.md), or use a plain duration that runs 24/7"
        )
        return [eff.diag(step_id, at, "E708", message)]
    if eff.region in ctx.rota_desks:
        return []
    hint = did_you_mean(eff.region, sorted(ctx.rota_desks))
    message = (
        f"step `{step_id}` {what}, which the {eff.region} desk decides, and the Rota has no "
        f"desk {eff.region}{hint}: add one (desks are named after regions)"
    )
    return [eff.diag(step_id, at, "E708", message)]
