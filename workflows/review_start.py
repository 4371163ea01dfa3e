"""Starting an incident's post-mortem review from its post-mortem step.

The review (``workflows/review.py``) is a child workflow abandoned by its parent: it goes on
after the incident closes, as a linked incident does (``workflows/links.py``). Starting it
is a workflow command, so a retried or replayed workflow task starts it once; its id is the
incident's (``names.review_id``), so the step that runs again while a review is open (a
loop) finds it open and says so instead of starting a second one.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from sopflow.contract.messages import IncidentInput, IncidentState
    from sopflow.contract.names import WORKFLOW_REVIEW, review_id
    from sopflow.contract.plan import Plan, PostmortemPlan
    from sopflow.contract.reviews import ReviewInput, ReviewState

# Incidents that ran their post-mortem step before reviews existed replay without one.
REVIEW_PATCH = "postmortem-review"


def review_input(
    inp: IncidentInput, plan: Plan, state: IncidentState, step: PostmortemPlan, document: str
) -> ReviewInput:
    """The review's input: the incident it follows up and the step's review settings."""
    settings = step.review_settings()
    return ReviewInput(
        review_id=review_id(state.incident_id),
        incident_id=state.incident_id,
        sop=state.sop,
        version=state.version,
        region=state.region,
        title=plan.sop.title,
        severity=state.severity,
        step=step.id,
        document=document,
        owner=settings.owner,
        due_at=workflow.now() + timedelta(seconds=settings.due_s),
        remind_s=settings.remind_s,
        escalate_to=settings.escalate_to,
        roles=sorted(plan.roles),
        global_roles=list(plan.global_roles or []),
        steps=list(plan.steps_by_id()),
        policies=sorted(plan.policies),
        data_task_queue=inp.data_task_queue,
    )


async def start_review(review: ReviewInput) -> bool:
    """Start the review as an abandoned child: whether it started (False: one is open
    already)."""
    try:
        await workflow.start_child_workflow(
            WORKFLOW_REVIEW,
            review,
            id=review.review_id,
            task_queue=workflow.info().task_queue,
            result_type=ReviewState,
            # It outlives the incident, and nothing the incident does cancels it.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            cancellation_type=workflow.ChildWorkflowCancellationType.ABANDON,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
