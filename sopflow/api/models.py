"""The JSON the incident routes take and answer (the OpenAPI schema is generated from these).

Answers are built from the incident service's values (``IncidentSummary``, ``IncidentView``,
``OpenTask``) and the workflow's own state models, never from Temporal objects.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sopflow.client.views import IncidentSummary, IncidentView, OpenTask
from sopflow.contract.messages import (
    ActionResult,
    MigrationRecord,
    StakeholderUpdate,
    StepState,
    TimelineEntry,
)
from sopflow.contract.search import steps_due

# An incident id a client may choose: what Temporal and a URL path segment take as is.
INCIDENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# The library's own identifier patterns (sopflow.language.models.common, the wait step's
# event): a value that cannot name anything is refused before it reaches a query.
SOP_ID_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"
STEP_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
REGION_PATTERN = r"^[A-Z][A-Z0-9_-]{1,15}$"
EVENT_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
# Reasons and notes must say something: at least one character that is not white space.
NOT_BLANK = r"\S"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentStatusName(StrEnum):
    """An incident's status."""

    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    terminated = "terminated"


class StartIncident(_Body):
    """Open an incident of one SOP version for one region."""

    sop: str = Field(pattern=SOP_ID_PATTERN, description="The SOP's id")
    version: int | None = Field(None, ge=1, description="Default: the latest version")
    region: str | None = Field(
        None, pattern=REGION_PATTERN, description="Default: the SOP's base region"
    )
    input: dict[str, Any] = Field(
        description="The incident's input: must fit the SOP's input schema"
    )
    incident_id: str | None = Field(
        None,
        pattern=INCIDENT_ID_PATTERN,
        description="Default: derived from the Idempotency-Key when one is sent, else a new id",
    )
    if_duplicate: Literal["refuse", "start", "attach"] = Field(
        "refuse",
        description=(
            "When an incident of this SOP is open about the same case (its `correlation`): "
            "refuse (409, naming it), start a new one linked both ways, or attach this report "
            "to the open one as a note"
        ),
    )


class IncidentSummaryOut(BaseModel):
    """An incident as visibility knows it (no worker needed)."""

    id: str
    sop: str | None
    version: int | None
    region: str | None
    severity: str | None
    status: str = Field(description="running, completed, failed, cancelled or terminated")
    outcome: str | None
    started_at: datetime | None
    active_steps: list[str]
    pending_roles: list[str]
    sla_breached: bool
    desk: str | None = Field(
        None, description="The desk that holds its open work (steps may follow the sun)"
    )
    due: dict[str, datetime] = Field(
        default_factory=dict, description="When each waiting step is due, by step id"
    )
    stalled: list[str] = Field(
        default_factory=list,
        description="Steps whose escalation chain is spent and that still wait (paged again "
        "every SLA)",
    )

    @classmethod
    def of(cls, summary: IncidentSummary) -> IncidentSummaryOut:
        """From the incident service's summary."""
        return cls.model_validate(asdict(summary) | {"due": steps_due(summary.steps_due)})


class StartedIncident(BaseModel):
    """The incident a start opened (or, on a retry with the same Idempotency-Key, found)."""

    id: str
    sop: str
    version: int
    region: str
    title: str
    plan_hash: str
    opened_by: str
    status: str = "running"
    linked: list[str] = Field(
        default_factory=list, description="Open incidents about the same case it is linked to"
    )
    attached: bool = Field(
        False, description="True: the report was attached to this open incident as a note"
    )


class IncidentDetail(BaseModel):
    """An incident: what visibility knows, and its state (steps, timeline) when a worker (or
    the final result) could give it; ``unavailable`` says why not otherwise."""

    summary: IncidentSummaryOut
    plan_hash: str | None = None
    opened_by: str | None = None
    opened_at: datetime | None = None
    labels: list[str] = Field(default_factory=list)
    steps: list[StepState] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    links: list[str] = Field(
        default_factory=list,
        description="Incidents linked to this one (duplicates, and incidents one opened the "
        "other from) that the caller may see",
    )
    migrations: list[MigrationRecord] = Field(
        default_factory=list, description="Its moves to later versions, oldest first"
    )
    updates: list[StakeholderUpdate] = Field(
        default_factory=list,
        description="The stakeholder updates asked so far (its SOP's `updates`), oldest first",
    )
    unavailable: str | None = None

    @classmethod
    def of(cls, view: IncidentView) -> IncidentDetail:
        """From the incident service's view."""
        summary, state = IncidentSummaryOut.of(view.summary), view.state
        if state is None:
            return cls(summary=summary, unavailable=view.unavailable)
        return cls(
            summary=summary,
            plan_hash=state.plan_hash,
            opened_by=state.opened_by,
            opened_at=state.opened_at,
            labels=list(state.labels),
            steps=list(state.steps.values()),
            timeline=list(state.timeline),
            links=list(state.links),
            migrations=list(state.migrations),
            updates=list(state.updates.records) if state.updates is not None else [],
        )


class TaskOut(BaseModel):
    """An open task or approval the caller's roles may act on."""

    incident: str
    sop: str
    version: int
    region: str
    severity: str | None
    step: str
    title: str
    type: str
    roles: list[str]
    due_at: datetime | None
    overdue: bool
    desk: str | None = Field(
        None, description="The desk that holds it, when it followed the sun from the region's"
    )
    stalled: bool = Field(
        False,
        description="Its escalation chain is spent and nobody has acted: its last role is "
        "paged again every SLA",
    )

    @classmethod
    def of(cls, task: OpenTask, now: datetime | None = None) -> TaskOut:
        """From the incident service's open task; overdue against ``now``."""
        moment = now or datetime.now(UTC)
        # Built without validation: every field comes typed from the service, and an inbox
        # makes thousands (validating from ``asdict`` cost most of a page).
        return cls.model_construct(
            incident=task.incident,
            sop=task.sop,
            version=task.version,
            region=task.region,
            severity=task.severity,
            step=task.step,
            title=task.title,
            type=task.type,
            roles=list(task.roles),
            due_at=task.due_at,
            overdue=task.due_at is not None and task.due_at < moment,
            desk=task.desk,
            stalled=task.stalled,
        )


class Me(BaseModel):
    """The caller: their handle, their Roster roles now, and how they signed in."""

    handle: str
    roles: list[str]
    via: str = Field(description="token or header")


class CompleteBody(_Body):
    """A task's form data (checked against the step's form by the workflow)."""

    data: dict[str, Any] = Field(default_factory=dict)


class VoteBody(_Body):
    """Why the caller approves or rejects (recorded on the timeline)."""

    reason: str = Field(min_length=1, max_length=4000, pattern=NOT_BLANK)


class NoteBody(_Body):
    """A note for the incident's timeline, optionally about one step; with ``claim``, also
    who works on that task or approval now (the note says why)."""

    text: str = Field(min_length=1, max_length=8000, pattern=NOT_BLANK)
    step: str | None = Field(None, pattern=STEP_ID_PATTERN)
    claim: Literal["take", "release", "assign"] | None = Field(
        None,
        description=(
            "take the step, release it to the desk's queue, or (a lead) assign it to "
            "`assignee`; needs `step`"
        ),
    )
    assignee: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9._-]{0,62}$", description="With `claim: assign`: who"
    )
    severity: Literal["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"] | None = Field(
        None, description="A lead sets the incident's severity, up or down; `text` says why"
    )


class AwayBody(_Body):
    """Why the caller steps away (the note each released task gets)."""

    text: str = Field(min_length=1, max_length=8000, pattern=NOT_BLANK)


class AwayOut(BaseModel):
    """The tasks and approvals the caller held, now back in their desks' queues."""

    released: list[dict[str, str]] = Field(description="`incident` and `step` of each")


class CancelBody(_Body):
    """Why the incident is cancelled (the lead role only)."""

    reason: str = Field(min_length=1, max_length=4000, pattern=NOT_BLANK)


class UpdateBody(_Body):
    """A stakeholder update the incident asked for (the asked role only, usually the lead):
    its text goes to the SOP's update destination. The workflow checks the text."""

    text: str = Field(max_length=8000, description="The update, as stakeholders read it")


class EventBody(_Body):
    """An external event, for a ``wait: {event: ...}`` step."""

    name: str = Field(pattern=EVENT_PATTERN, description="As the wait step names it")
    data: dict[str, Any] = Field(default_factory=dict)


class ActionOut(BaseModel):
    """What an accepted action did."""

    incident: str
    accepted: bool
    step: str | None = None
    detail: str = ""

    @classmethod
    def of(cls, incident_id: str, result: ActionResult) -> ActionOut:
        """From the workflow's answer."""
        return cls(incident=incident_id, **result.model_dump(mode="json"))
