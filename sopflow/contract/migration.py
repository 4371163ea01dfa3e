"""Moving a running incident to a later version of its SOP (`sopflow migrate`).

An incident moves only at a safe point: every step active in it is a top-level task,
approval or wait that the later version's `migrates_from` maps, none of them is finishing
(a task already completed, an approval already decided, a wait already over), and no
activity is running. The move keeps everything the incident has recorded (timeline, votes,
outputs, claims); the active step goes on in the later version where it was, with the
same due time. The same function answers the workflow's validator and a dry run, so a
dry run says exactly what the workflow would say.

Like the other contract modules it imports only pydantic.
"""

from __future__ import annotations

from datetime import datetime

from sopflow.contract.messages import IncidentState, MigrationRecord, StepState
from sopflow.contract.plan import Plan

SAFE_TYPES = ("task", "approval", "wait")


def migration_refusal(state: IncidentState, current: Plan, later: Plan) -> str | None:
    """Why the incident running ``current`` cannot move to ``later`` now, or None."""
    name = f"{later.sop.id}@{later.sop.version}"
    if later.sop.id != state.sop:
        return f"{name} is another SOP than the incident's ({state.sop})"
    if later.region.code != state.region:
        return f"{name} ({later.region.code}) is for another region than the incident's"
    if later.plan_hash != later.compute_hash():
        return f"the plan of {name} does not match its hash"
    if state.status != "running":
        return f"the incident is {state.status}"
    if later.restricted_to != current.restricted_to:
        # Who may see an incident never changes while it runs (clients cache it).
        return f"{name} changes who may see the incident (`restricted_to`): it cannot move"
    mapping = later.migrates_from
    if mapping is None or mapping.version != state.version:
        return f"{name} does not migrate from version {state.version} (its `migrates_from`)"
    active = [sid for sid, s in state.steps.items() if s.status == "active"]
    if not active:
        return "no step is active (the incident is between steps): try again in a moment"
    top = {step.id for step in current.steps}
    for sid in active:
        problem = _not_safe(state.steps[sid], sid in top, mapping.steps, name)
        if problem is not None:
            return problem
    return None


def _not_safe(step: StepState, top_level: bool, mapping: dict[str, str], name: str) -> str | None:
    if step.type not in SAFE_TYPES or not top_level:
        where = "" if top_level else " inside a parallel step"
        return f"step {step.id} ({step.type}{where}) is active: not a safe point"
    if step.id not in mapping:
        return f"step {step.id} is active and {name} does not map it (its `migrates_from`)"
    if step.submitted_by is not None or step.output is not None:
        return f"step {step.id} is finishing: try again in a moment"
    return None


def migrated_state(
    state: IncidentState, later: Plan, by: str, reason: str, at: datetime
) -> IncidentState:
    """The state the incident carries into ``later``: each step's record under the id the
    later version gives it (mapped, else the same id when the type matches), the others
    kept as former steps; the active step's place is where the incident resumes."""
    assert later.migrates_from is not None
    mapping = later.migrates_from.steps
    steps = {sid: StepState(id=sid, type=s.type) for sid, s in later.steps_by_id().items()}
    former = dict(state.former_steps)
    for sid, record in state.steps.items():
        target = mapping.get(sid, sid)
        if (
            target in steps
            and steps[target].type == record.type
            and target not in _taken(mapping, sid)
        ):
            steps[target] = record.model_copy(update={"id": target})
        else:
            former[sid] = record
    active = next(sid for sid, s in state.steps.items() if s.status == "active")
    moved = MigrationRecord(
        from_version=state.version,
        from_plan=state.plan_hash,
        to_version=later.sop.version,
        to_plan=later.plan_hash,
        by=by,
        reason=reason,
        at=at,
        steps=dict(mapping),
    )
    return state.model_copy(
        update={
            "version": later.sop.version,
            "plan_hash": later.plan_hash,
            "steps": steps,
            "former_steps": former,
            "resume_at": mapping[active],
            "resume_active": True,
            "migrations": [*state.migrations, moved],
        }
    )


def _taken(mapping: dict[str, str], sid: str) -> set[str]:
    """Later steps another earlier step is mapped onto (they take that one's record)."""
    return {target for source, target in mapping.items() if source != sid}
