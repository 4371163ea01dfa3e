"""A note on an incident, and what a note can also carry: a claim on a step (take, release,
assign to someone) or a new severity. Checked here for the workflow's validator and applied
here for its update handler (``IncidentWorkflow.add_note``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract.messages import ActionResult, Note, severity_rank
    from sopflow.contract.names import LEAD_ROLE
    from sopflow.contract.plan import Plan, PlanStep

if TYPE_CHECKING:
    from workflows.runner import StepRunner

CLAIM_KINDS = {"take": "claimed", "release": "released", "assign": "assigned"}


def apply_note(runner: StepRunner, req: Note) -> ActionResult:
    """Record ``req`` (checked by ``check_note``): a severity change, a claim, or a note."""
    state = runner.state
    if req.severity is not None:
        return _set_severity(runner, req, req.severity)
    if req.claim is None or req.step is None:
        runner.log(req.actor.id, "note", req.step, req.text)
        return ActionResult(step=req.step, detail="noted")
    step = state.steps[req.step]
    step.claimed_by = {"take": req.actor.id, "release": None}.get(req.claim, req.assignee)
    to = f" to {req.assignee}" if req.claim == "assign" else ""
    kind = CLAIM_KINDS[req.claim]
    runner.log(req.actor.id, f"work.{kind}", req.step, f"{kind}{to}: {req.text}")
    return ActionResult(step=req.step, detail=kind)


def _set_severity(runner: StepRunner, req: Note, level: str) -> ActionResult:
    state = runner.state
    before = state.severity
    raised = before is None or severity_rank(level) < severity_rank(before)
    kind = "severity.raised" if raised else "severity.lowered"
    state.severity = level
    runner.log(req.actor.id, kind, None, f"{before or 'none'} -> {level}: {req.text}")
    runner.flush_search_attributes()
    return ActionResult(detail=kind)


def check_note(runner: StepRunner, plan: Plan, steps: dict[str, PlanStep], req: Note) -> None:
    """ActionRefused unless ``req`` may be recorded: a severity change by a lead of the desk,
    a claim by someone who may work the step, a note by anyone holding a role of the SOP on
    the desk that holds the step (or the incident's)."""
    state = runner.state
    if req.step is not None and req.step not in steps:
        raise conductor.ActionRefused(f"this incident has no step {req.step!r}")
    roles = list(plan.roles)
    if req.severity is not None:
        here = conductor.check_desk(state, req.actor, [LEAD_ROLE], plan.global_roles)
        conductor.check_severity(state, here, req)
        return
    if req.claim is not None:
        step = steps.get(req.step) if req.step is not None else None
        here = conductor.check_desk(state, req.actor, roles, plan.global_roles, req.step)
        conductor.check_claim(state, step, here, req)
        return
    held = state.steps[req.step].desk if req.step is not None else None
    here = req.actor  # the holding desk notes its step
    if held is None or req.actor.region != held:
        here = conductor.check_desk(state, req.actor, roles, plan.global_roles)
    conductor.check_note(state, here, roles)
