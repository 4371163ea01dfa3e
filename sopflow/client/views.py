"""What the incident service answers with when asked to read: plain, frozen values built
from visibility (the typed search attributes) and the incident's state, never a Temporal
object, so an interface can render them without knowing Temporal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import WorkflowExecutionStatus
from temporalio.common import TypedSearchAttributes

from sopflow.client.connection import incident_status
from sopflow.contract import search
from sopflow.contract.messages import IncidentState


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """An incident as visibility (the typed search attributes) knows it: no worker needed."""

    id: str
    sop: str | None
    version: int | None
    region: str | None
    severity: str | None
    status: str  # running|completed|failed|cancelled|terminated
    outcome: str | None
    started_at: datetime | None
    active_steps: tuple[str, ...]
    pending_roles: tuple[str, ...]
    sla_breached: bool
    # Need-to-know, from the ``Audience`` search attribute: the roles whose holders may see
    # it; None for everyone who holds a role (also an incident started before Audience).
    restricted_to: tuple[str, ...] | None = None
    # ``StepsDue`` as written (``step@time ...``) and when the workflow last changed any of
    # the above; both empty for incidents that keep neither (docs/versioning.md).
    steps_due: str = ""
    changed_at: datetime | None = None
    # The desk that holds its open work: `Desk` for an SOP with steps that follow the sun,
    # else the region's desk.
    desk: str | None = None
    # Steps whose escalation chain is spent and that still wait (paged again every SLA).
    stalled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its state, when a worker (or the final result) could give it;
    ``unavailable`` says why not otherwise."""

    summary: IncidentSummary
    state: IncidentState | None
    unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class OpenTask:
    """A task or approval waiting on people, with the roles that may act on it."""

    incident: str
    sop: str
    version: int
    region: str
    severity: str | None
    step: str
    title: str
    type: str
    roles: tuple[str, ...]
    due_at: datetime | None
    # The desk that holds it when it followed the sun away from the region's; else None.
    desk: str | None = None
    # Its escalation chain is spent and nobody has acted: its last role is paged every SLA.
    stalled: bool = False


def summary_of(
    incident_id: str,
    status: WorkflowExecutionStatus | None,
    attrs: TypedSearchAttributes,
    started_at: datetime | None,
    state: IncidentState | None = None,
) -> IncidentSummary:
    """The summary of one incident, from its state when there is one, else from its
    search attributes."""
    outcome = state.outcome if state else attrs.get(search.OUTCOME)
    return IncidentSummary(
        id=incident_id,
        sop=state.sop if state else attrs.get(search.SOP_ID),
        version=state.version if state else attrs.get(search.SOP_VERSION),
        region=state.region if state else attrs.get(search.REGION),
        severity=state.severity if state else attrs.get(search.SEVERITY),
        status=incident_status(status, state, outcome),
        outcome=outcome,
        started_at=started_at,
        active_steps=tuple(attrs.get(search.ACTIVE_STEPS) or ()),
        pending_roles=tuple(attrs.get(search.PENDING_ROLES) or ()),
        sla_breached=bool(attrs.get(search.SLA_BREACHED)),
        restricted_to=restricted_to(attrs.get(search.AUDIENCE)),
        steps_due=attrs.get(search.STEPS_DUE) or "",
        changed_at=attrs.get(search.CHANGED_AT),
        desk=attrs.get(search.DESK) or (state.region if state else attrs.get(search.REGION)),
        stalled=tuple((attrs.get(search.STALLED) or "").split()),
    )


def restricted_to(audience: Sequence[str] | None) -> tuple[str, ...] | None:
    """The roles an ``Audience`` restricts an incident to; None when it does not."""
    return None if not audience or search.EVERYONE in audience else tuple(audience)


def by_due_time(task: OpenTask) -> tuple[bool, float, str, str]:
    """Soonest due first; tasks without a due time last."""
    due = task.due_at.timestamp() if task.due_at else 0.0
    return (task.due_at is None, due, task.incident, task.step)
