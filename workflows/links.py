"""Linked incidents: an `open_incident` step opens an incident of another SOP (or of the same
one, on another desk) as a Temporal child workflow, linked both ways, and may wait for it.

The other SOP's plan is resolved from the library by an activity, so the version it ran (the
latest not retired, unless the step names one) is in this incident's history. The child is
abandoned, never cancelled, when this incident closes or stops waiting: a threat-to-life
incident opened from a child-safety case goes on whatever happens to the case.

``StepRunner`` inherits these; it provides the incident, ``log`` and ``variables``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract import search
    from sopflow.contract.links import LinkedPlan, LinkedPlanRequest, routed_outcome
    from sopflow.contract.messages import IncidentInput, IncidentState
    from sopflow.contract.names import ACT_LINKED_PLAN, data_queue_name
    from sopflow.contract.plan import OpenIncidentPlan, Plan
    from workflows.effects import plain
    from workflows.parts import UNTIL_FIXED, RunnerPart

# A library that cannot answer (no such SOP or region yet, a broken file mid-edit) waits for
# its fix (UNTIL_FIXED). What no fix can change (the input does not fit, the version is
# retired) fails the step at once, naming why.


class LinkedIncidents(RunnerPart):
    """The `open_incident` step."""

    inp: IncidentInput
    state: IncidentState

    async def _open_incident(self, step: OpenIncidentPlan) -> str | None:
        """Open the linked incident; with ``wait``, the outcome it closed with (routed by
        ``on``), else None."""
        s = self.state.steps[step.id]
        variables = self.variables()
        data = {
            name: conductor.check(step.id, expr, variables) for name, expr in step.input.items()
        }
        request = LinkedPlanRequest(
            incident_id=self.state.incident_id,
            step=step.id,
            sop=step.sop,
            version=step.version,
            region=step.region or self.state.region,
            input=plain(data),
        )
        linked: LinkedPlan = await workflow.execute_activity(
            ACT_LINKED_PLAN,
            request,
            result_type=LinkedPlan,
            task_queue=self.inp.data_task_queue,  # the request holds this incident's data
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=UNTIL_FIXED,
        )
        plan, child_id = linked.plan, self._child_id(step.id, s.starts)
        handle = await workflow.start_child_workflow(
            plan.sop.id,
            self._child_input(child_id, plan, request.input, linked.data_region, step.id),
            id=child_id,
            task_queue=workflow.info().task_queue,
            result_type=IncidentState,
            # The child outlives this incident, and a step that stops waiting (an event, a
            # cancellation) does not cancel it.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            cancellation_type=workflow.ChildWorkflowCancellationType.ABANDON,
            search_attributes=search.plan_start_attributes(plan, request.input),
            memo=search.start_memo(plan),
        )
        name = f"{plan.sop.id}@{plan.sop.version} ({plan.region.code})"
        if child_id not in self.state.links:
            self.state.links.append(child_id)
        self.log("system", "incident.linked", step.id, f"opened {child_id}: {name}")
        s.output = {
            "incident": child_id,
            "sop": plan.sop.id,
            "version": plan.sop.version,
            "region": plan.region.code,
            "status": "running",
            "outcome": None,
        }
        if not step.wait:
            return None
        self.flush_search_attributes()  # visible while it waits (e.g. a severity just raised)
        try:
            closed: IncidentState = await handle
            status, outcome = closed.status, closed.outcome
        except ChildWorkflowError as exc:  # terminated, timed out, or failed outside the plan
            if _stopping():
                # This incident stops waiting (cancelled, an event, a migration): the SDK
                # reports the abandoned wait as a cancelled child; the child runs on.
                raise asyncio.CancelledError from None
            status, outcome = "failed", str(exc.cause or exc)
        routed = routed_outcome(status, outcome)
        s.output = {**s.output, "status": status, "outcome": outcome}
        self.log("system", "link.closed", step.id, f"{routed}: {child_id} {status} ({outcome})")
        return routed

    def _child_id(self, step_id: str, starts: int) -> str:
        """This incident's id, then the step (an incident id has no underscore), then how
        many times the step has run when it runs again: stable across replays and retries."""
        again = f"-{starts}" if starts > 1 else ""
        return f"{self.state.incident_id}.{step_id.replace('_', '-')}{again}"

    def _child_input(
        self, child_id: str, plan: Plan, data: dict[str, Any], data_region: str, step_id: str
    ) -> IncidentInput:
        queue = None
        if self.inp.data_task_queue is not None:  # data routing is on: the child's region's
            queue = data_queue_name(workflow.info().task_queue, data_region)
        return IncidentInput(
            incident_id=child_id,
            plan=plan,
            input=data,
            opened_by=self.state.incident_id,
            data_task_queue=queue,
            parent=self.state.incident_id,
            parent_step=step_id,
        )


def _stopping() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
