"""Moving a running incident to a later version of its SOP, in the workflow: whether the
`migrate` update may be accepted now, and the continue-as-new that carries the incident's
record onto the later plan (the rules themselves are the contract's, shared with dry runs).
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow
from temporalio.common import SearchAttributePair

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract import search
    from sopflow.contract.messages import Actor, IncidentInput, IncidentState, Migrate
    from sopflow.contract.migration import migrated_state, migration_refusal
    from sopflow.contract.names import LEAD_ROLE
    from sopflow.contract.plan import Plan


def check_migration(
    state: IncidentState, plan: Plan, req: Migrate, here: Actor, *, busy: bool, closing: bool
) -> None:
    """Refuse (ActionRefused) a move the incident cannot make now; ``here`` is the actor with
    the roles they hold on the incident's desk."""
    if LEAD_ROLE not in here.roles:
        raise conductor.ActionRefused(
            f"only the {LEAD_ROLE!r} role moves an incident to another version", "forbidden"
        )
    if closing:
        raise conductor.ActionRefused("the incident is already moving or closing")
    if busy:
        raise conductor.ActionRefused(
            "an activity is running (a notification or a Rota read): try again in a moment"
        )
    problem = migration_refusal(state, plan, req.plan)
    if problem is not None:
        raise conductor.ActionRefused(problem)


def continue_on_later_plan(inp: IncidentInput, state: IncidentState, req: Migrate) -> NoReturn:
    """Continue as new on ``req.plan`` with the incident's record carried over; the
    search attributes and memo name the later version."""
    plan = req.plan
    carried = migrated_state(state, plan, req.actor.id, req.reason, workflow.now())
    carried.runs += 1
    workflow.continue_as_new(
        inp.model_copy(update={"plan": plan, "carried": carried}),
        search_attributes=workflow.info().typed_search_attributes.updated(
            SearchAttributePair(search.SOP_VERSION, plan.sop.version),
            SearchAttributePair(search.PLAN_HASH, plan.plan_hash),
        ),
        memo=search.start_memo(plan),
    )
