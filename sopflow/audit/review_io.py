"""Finding an incident's post-mortem review: the review is a workflow of its own
(``<incident id>/postmortem``, docs/postmortems.md) that the incident's post-mortem step
starts as a child workflow, so the incident's history names it (the child's
StartChildWorkflowExecutionInitiated event). Export, report and replay read its runs beside
the incident's.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import WorkflowHistory

from sopflow.audit.errors import AuditError
from sopflow.audit.history_io import fetch_runs, started
from sopflow.client.incidents import IncidentService
from sopflow.contract.names import WORKFLOW_REVIEW


def review_started(runs: Sequence[WorkflowHistory]) -> str | None:
    """The workflow id of the post-mortem review the incident's runs started, or None."""
    for run in runs:
        for ev in run.events:
            if not ev.HasField("start_child_workflow_execution_initiated_event_attributes"):
                continue
            attrs = ev.start_child_workflow_execution_initiated_event_attributes
            if attrs.workflow_type.name == WORKFLOW_REVIEW:
                return attrs.workflow_id
    return None


def is_review(history: WorkflowHistory) -> bool:
    """Whether ``history`` is a run of a post-mortem review (not of an incident)."""
    return started(history).workflow_type.name == WORKFLOW_REVIEW


def split_reviews(
    histories: Sequence[WorkflowHistory],
) -> tuple[list[WorkflowHistory], list[WorkflowHistory]]:
    """(the incident's histories, the review's), told apart by their workflow type."""
    return [h for h in histories if not is_review(h)], [h for h in histories if is_review(h)]


async def fetch_review_runs(
    incidents: IncidentService, runs: Sequence[WorkflowHistory], notes: list[str] | None = None
) -> list[WorkflowHistory]:
    """Every run of the review the incident's ``runs`` started (none when it started
    none). A review the server no longer has (retention) is said in ``notes``, not an
    error: the incident's own history is still the record."""
    workflow_id = review_started(runs)
    if workflow_id is None:
        return []
    try:
        return await fetch_runs(incidents, workflow_id)
    except AuditError as exc:
        if notes is not None:
            notes.append(f"the incident started the review {workflow_id}, not exported: {exc}")
        return []
