"""Open tasks: the tasks and approvals waiting on people, as an inbox lists them.

Built from what visibility holds (active steps, their due times, severity) and the plan the
incident runs, so listing a person's queue costs one visibility query and no query per
incident. Incidents that keep no due times in visibility (started before the interpreter
wrote them) are answered from their state instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from temporalio.client import WorkflowExecution
from temporalio.common import TypedSearchAttributes

from sopflow.client.plans import PlanCache
from sopflow.client.views import OpenTask
from sopflow.client.visibility import quote, visible_query
from sopflow.contract import search
from sopflow.contract.messages import IncidentState
from sopflow.contract.plan import ApprovalPlan, Plan, PlanStep, TaskPlan

ActiveSteps = list[tuple[str, datetime | None]]


def holders(step: PlanStep | None) -> list[str]:
    """The roles that may act on a step waiting on people; none for any other step."""
    match step:
        case TaskPlan():
            return [step.assignee]
        case ApprovalPlan():
            return list(step.approvers)
        case _:
            return []  # automated steps, and waits for events


def active_from_visibility(plan: Plan, attrs: TypedSearchAttributes) -> ActiveSteps | None:
    """The active steps and their due times as visibility has them, or None when a task or
    approval among them has no due time there (the incident keeps none: ask its state)."""
    due = search.steps_due(attrs.get(search.STEPS_DUE))
    steps = plan.steps_by_id()
    active: ActiveSteps = []
    for step_id in attrs.get(search.ACTIVE_STEPS) or []:
        if holders(steps.get(step_id)) and step_id not in due:
            return None
        active.append((step_id, due.get(step_id)))
    return active


def open_tasks(
    incident_id: str,
    plan: Plan,
    active: ActiveSteps,
    severity: str | None,
    roles: Sequence[str] | None,
    desks: Callable[[str], str | None] = lambda step_id: None,
    stalled: Sequence[str] = (),
) -> list[OpenTask]:
    """The tasks and approvals among ``active`` that ``roles`` may act on (all with None);
    ``desks`` says which desk holds a step that followed the sun away from the region's."""
    steps = plan.steps_by_id()
    out = []
    for step_id, due in active:
        step = steps.get(step_id)
        matching = tuple(r for r in holders(step) if roles is None or r in roles)
        if step is not None and matching:
            held = desks(step_id)
            out.append(
                OpenTask(
                    incident=incident_id,
                    sop=plan.sop.id,
                    version=plan.sop.version,
                    region=plan.region.code,
                    severity=severity,
                    step=step_id,
                    title=step.title,
                    type=step.type,
                    roles=matching,
                    due_at=due,
                    desk=held if held != plan.region.code else None,
                    stalled=step_id in stalled,
                )
            )
    return out


async def tasks_of(
    wf: WorkflowExecution,
    plans: PlanCache,
    state_of: Callable[[WorkflowExecution], Awaitable[IncidentState | None]],
    roles: Sequence[str] | None,
) -> list[OpenTask]:
    """The open tasks of one listed incident that ``roles`` may act on: from visibility and
    its plan, or, for an incident that keeps no due times there, from ``state_of`` it."""
    attrs = wf.typed_search_attributes
    plan = await plans.get(wf.id, wf.run_id, attrs.get(search.PLAN_HASH))
    active = active_from_visibility(plan, attrs)
    severity = attrs.get(search.SEVERITY)
    desks = _visible_desks(plan, attrs.get(search.DESK))
    stalled: Sequence[str] = (attrs.get(search.STALLED) or "").split()
    if active is None:
        state = await state_of(wf)
        if state is not None:
            steps = state.steps.items()
            active = [(sid, s.due_at) for sid, s in steps if s.status == "active"]
            severity = state.severity
            desks = lambda step_id: state.steps[step_id].desk  # noqa: E731
            stalled = [sid for sid, s in steps if s.stalled]
        else:  # no worker answered: the steps waiting on people, without due times
            active = [(sid, None) for sid in attrs.get(search.ACTIVE_STEPS) or []]
    return open_tasks(wf.id, plan, active, severity, roles, desks, stalled)


def _visible_desks(plan: Plan, desk: str | None) -> Callable[[str], str | None]:
    """Which desk holds each step, as far as visibility knows: `Desk` (the desk of the
    incident's soonest-due step) for steps that follow the sun; the region's for others."""
    steps = plan.steps_by_id()

    def of(step_id: str) -> str | None:
        step = steps.get(step_id)
        follows = isinstance(step, TaskPlan | ApprovalPlan) and step.follow_the_sun
        return desk if follows else None

    return of


def open_tasks_query(roles: Sequence[str] | None, seen_by: Sequence[str] | None) -> str:
    """Running incidents waiting on one of ``roles`` (any, with None) that a person holding
    ``seen_by`` may see (every one, with None)."""
    query = "ExecutionStatus = 'Running' AND SopId IS NOT NULL"
    if roles:
        query += f" AND PendingRoles IN ({', '.join(quote(r) for r in roles)})"
    if seen_by is not None:
        query += f" AND {visible_query(seen_by)}"
    return query
