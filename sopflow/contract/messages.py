"""The run-time messages: the payloads shared by the workflow, the activities, the worker and
the clients (CLI, console).

Like ``sopflow.contract.plan`` this module imports only pydantic, so the Temporal sandbox can
load it.
Every workflow, update, signal, query and activity takes one model and returns one model, so
fields can be added later without breaking histories: add fields with defaults, never
rename or remove one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sopflow.contract.plan import DestinationPlan, Plan, Policy


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Workflow input


class IncidentInput(_Model):
    """What starts an incident: the compiled plan travels in the history with it."""

    incident_id: str
    plan: Plan
    input: dict[str, Any]
    opened_by: str
    # Tuning for long incidents and tests: continue-as-new past this many history events.
    continue_as_new_after: int = 10_000
    # Activities that handle user data run here (a queue per data region), when set.
    data_task_queue: str | None = None
    # Set when the workflow continues as new: the state it carries over.
    carried: IncidentState | None = None
    # Open incidents this one was started as a duplicate of (the opener chose to link them).
    links: list[str] = Field(default_factory=list, exclude_if=lambda value: not value)
    # Set when another incident's `open_incident` step opened this one: that incident, and
    # its step (left out of dumps when unset).
    parent: str | None = Field(default=None, exclude_if=lambda value: value is None)
    parent_step: str | None = Field(default=None, exclude_if=lambda value: value is None)


# --- Responder actions (updates). `roles` are resolved by the client from the Roster, and
# the service that resolved them signs the action (see sopflow.contract.assertions): the
# worker trusts the actor and roles only with a valid signature.


class Actor(_Model):
    id: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    # The region whose desk the person works on (the Roster's `region`): their roles act on
    # that region's incidents, and on others only through an SOP's `global_roles`. None for
    # an actor that names none (left out of dumps and signatures, as before it existed).
    region: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # Roles the person holds on other desks (the Roster's `desks`): they act on those desks'
    # incidents with these. None when there are none (left out of dumps and signatures).
    desks: dict[str, list[str]] | None = Field(default=None, exclude_if=lambda value: value is None)

    def every_role(self) -> list[str]:
        """Every role they hold, on their own desk or another (what they may see and list;
        the workflow decides which apply to an incident's desk)."""
        elsewhere = [r for roles in (self.desks or {}).values() for r in roles]
        return list(dict.fromkeys([*self.roles, *elsewhere]))


class ActionSignature(_Model):
    """An Ed25519 signature over an action's claims, made by the service that authenticated
    the person. ``issued_at`` and ``request_id`` are part of what is signed; ``value`` is the
    base64 signature. Histories recorded before signing have none."""

    key_id: str = Field(min_length=1)
    request_id: str = Field(min_length=1)
    issued_at: datetime
    value: str = Field(min_length=1)


class CompleteTask(_Model):
    step: str
    actor: Actor
    data: dict[str, Any] = Field(default_factory=dict)
    signature: ActionSignature | None = None


class Vote(_Model):
    step: str
    actor: Actor
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1)
    signature: ActionSignature | None = None


ClaimKind = Literal["take", "release", "assign"]
SeverityLevel = Literal["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"]


def severity_rank(level: str) -> int:
    """How severe: SEV0 is the most (0), SEV4 the least (4)."""
    return int(level.removeprefix("SEV"))


class Note(_Model):
    """A note on the timeline. With ``claim``, also who works on a task or approval now:
    ``take`` it, ``release`` it back to the desk's queue, or (a lead) ``assign`` it to
    ``assignee``. The note's text says why; nothing else about the step changes."""

    actor: Actor
    text: str = Field(min_length=1)
    step: str | None = None
    signature: ActionSignature | None = None
    claim: ClaimKind | None = Field(default=None, exclude_if=lambda value: value is None)
    assignee: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # A lead sets the incident's severity (up or down), the text saying why.
    severity: SeverityLevel | None = Field(default=None, exclude_if=lambda value: value is None)


class LinkNotice(_Model):
    """Another incident names this one: ``relation`` says how (``duplicate``: it was opened
    about the same case while this one was open), ``by`` who opened it."""

    incident: str = Field(min_length=1)
    relation: Literal["duplicate"]
    by: str = Field(min_length=1)


class Cancel(_Model):
    actor: Actor
    reason: str = Field(min_length=1)
    signature: ActionSignature | None = None


class Migrate(_Model):
    """Move the incident to ``plan``, a later version of its SOP that `migrates_from` its
    version, at a safe point (every active step mapped). A lead's action, with a reason."""

    actor: Actor
    plan: Plan
    reason: str = Field(min_length=1)
    signature: ActionSignature | None = None


class PostUpdate(_Model):
    """The stakeholder update the incident asked for (``Plan.updates``): its text goes to
    the cadence's destination. The workflow checks the text (not empty, not too long), so
    a bad one is refused with a reason rather than failing to decode."""

    actor: Actor
    text: str
    signature: ActionSignature | None = None


SignedAction = CompleteTask | Vote | Note | Cancel | Migrate | PostUpdate
"""The actions a person takes: each is a Workflow Update and carries a signature."""


class ActionResult(_Model):
    """What an accepted action did, for the caller."""

    accepted: bool = True
    step: str | None = None
    detail: str = ""


class ExternalEvent(_Model):
    name: str
    data: dict[str, Any] = Field(default_factory=dict)
    # Who sent it through the API (a person or a system's token), when known: shown on the
    # timeline. A signal cannot be refused, so this is a record, not a check.
    sent_by: str | None = None


# --- State (the query's answer, and what continue-as-new carries)

StepStatus = Literal["pending", "active", "done", "skipped", "failed"]
IncidentStatus = Literal["running", "completed", "failed", "cancelled"]


class VoteRecord(_Model):
    actor: str
    decision: Literal["approve", "reject"]
    reason: str
    at: datetime
    # The roles the voter held when voting: kept for approvals with per-role quorum
    # (`requires`), whose tally needs them; left out of dumps otherwise, as before it existed.
    roles: list[str] | None = Field(default=None, exclude_if=lambda value: value is None)


class StepState(BaseModel):
    """One step as the incident sees it. Mutable inside the workflow; frozen copies go out."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    status: StepStatus = "pending"
    role: str | None = None
    roles: list[str] = Field(default_factory=list)  # every role that may act (approvers)
    due_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    breaches: int = 0
    starts: int = 0  # how many times the step began (loops), for idempotency keys
    escalated_to: list[str] = Field(default_factory=list)
    votes: list[VoteRecord] = Field(default_factory=list)
    submitted_by: str | None = None
    # A step that follows the sun: the desk that holds it, since when, and when that desk's
    # turn ends (the Rota's answer). Left out of dumps when unset.
    # Who works on it now (a claim: advisory, anyone may still act); None: the desk's queue.
    claimed_by: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # The escalation chain is spent and nobody has acted: its last role is paged again every
    # SLA until someone does (left out of dumps when False).
    stalled: bool = Field(default=False, exclude_if=lambda value: not value)
    desk: str | None = Field(default=None, exclude_if=lambda value: value is None)
    desk_since: datetime | None = Field(default=None, exclude_if=lambda value: value is None)
    turn_until: datetime | None = Field(default=None, exclude_if=lambda value: value is None)
    # The Rota is being asked which desk holds the step (as it opens, or at a shift change):
    # actions on it are refused until it answers, so no one off shift acts in that moment.
    routing: bool = Field(default=False, exclude_if=lambda value: not value)


class TimelineEntry(_Model):
    at: datetime
    actor: str  # a person, or "system"
    kind: str  # e.g. step.started, task.completed, vote, sla.breached, note, event
    step: str | None = None
    detail: str = ""


class Exposure(_Model):
    """Someone did a step marked graphic: who, which step, when."""

    person: str
    step: str
    at: datetime


class MigrationRecord(_Model):
    """One move of a running incident to a later version of its SOP."""

    from_version: int
    from_plan: str  # the plan hash before
    to_version: int
    to_plan: str
    by: str
    reason: str
    at: datetime
    steps: dict[str, str]  # the mapping applied: earlier step id -> later step id


class StakeholderUpdate(BaseModel):
    """One stakeholder update the incident asked for: ``due`` until posted, ``missed`` when
    its grace ran out first (it may still be posted late, until the next is asked)."""

    model_config = ConfigDict(extra="forbid")

    number: int
    severity: str
    asked: str  # the role asked for it
    asked_at: datetime
    status: Literal["due", "posted", "missed"] = "due"
    posted_at: datetime | None = None
    posted_by: str | None = None
    text: str | None = None
    escalated_to: str | None = None
    # The desk it was asked of, when its cadence follows the sun (the desk on shift for the
    # asked role then): that desk posts it and its miss pages there. Left out when unset.
    desk: str | None = Field(default=None, exclude_if=lambda value: value is None)


class UpdatesState(BaseModel):
    """The stakeholder updates of an incident whose plan declares ``updates``."""

    model_config = ConfigDict(extra="forbid")

    # Where the clock of the next update runs from (the last ask, or when the incident
    # reached a severity with a cadence); None at a severity without one.
    clock_from: datetime | None = None
    records: list[StakeholderUpdate] = Field(default_factory=list)


class IncidentState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: str
    sop: str
    version: int
    region: str
    plan_hash: str
    opened_by: str
    opened_at: datetime
    status: IncidentStatus = "running"
    outcome: str | None = None
    severity: str | None = None
    labels: list[str] = Field(default_factory=list)
    sla_breached: bool = False
    steps: dict[str, StepState] = Field(default_factory=dict)
    # Step ids in the order they finished done (a step that loops appears once per pass);
    # skipped, failed and cancelled steps are not on the path. Rehearsals compare it.
    path: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Where the top level resumes after continue-as-new (a step id), if anywhere.
    resume_at: str | None = None
    # External events received and not yet consumed by a `wait: {event: ...}` step.
    pending_events: list[ExternalEvent] = Field(default_factory=list)
    runs: int = 1
    # The request ids of the latest accepted signed actions: carried across continue-as-new,
    # where Temporal's update-id deduplication starts afresh, so a captured signature cannot
    # be applied again in the next run while it is still fresh.
    recent_requests: list[str] = Field(default_factory=list)
    # Who did steps marked graphic, and when (wellbeing: exposure per shift).
    exposures: list[Exposure] = Field(default_factory=list)
    # Incidents linked to this one (duplicates opened about the same case, either way).
    links: list[str] = Field(default_factory=list)
    # Moves to later versions (`sopflow migrate`), oldest first; left out when none.
    migrations: list[MigrationRecord] = Field(default_factory=list, exclude_if=lambda v: not v)
    # The records of steps of an earlier version that the later one does not have (by id).
    former_steps: dict[str, StepState] = Field(default_factory=dict, exclude_if=lambda v: not v)
    # After a migration: the step at `resume_at` was active and goes on where it was.
    resume_active: bool = Field(default=False, exclude_if=lambda v: not v)
    # Stakeholder updates (plans with `updates` only); left out when None.
    updates: UpdatesState | None = Field(default=None, exclude_if=lambda v: v is None)


# --- Activities


class EnrichRequest(_Model):
    incident_id: str
    sop: str
    region: str
    names: list[str]
    input: dict[str, Any]


class EnrichResult(_Model):
    data: dict[str, Any] = Field(default_factory=dict)


class NotifyRequest(_Model):
    incident_id: str
    step: str
    channel: str
    to: str  # a role name or an address
    to_is_role: bool
    region: str
    message: str
    # Same on every retry of the same notification, so receivers can drop duplicates.
    idempotency_key: str
    # A step's named destination: the channel delivers to its address (a webhook posts there
    # instead of its configured URL). Left out of dumps when unset, as before it existed.
    destination: DestinationPlan | None = Field(default=None, exclude_if=lambda v: v is None)


class NotifyResult(_Model):
    channel: str
    delivered: bool
    detail: str = ""


class DisclosureRequest(_Model):
    incident_id: str
    step: str
    sop: str
    version: int
    region: str
    policy: Policy
    facts: dict[str, Any]
    # Same on every retry, so the log records one outcome per check.
    idempotency_key: str


class DisclosureResult(_Model):
    decision: Literal["allowed", "needs_approval", "denied"]
    allow: list[str] = Field(default_factory=list)
    legal_basis: str | None = None
    reason: str | None = None
    policy: str
    rule: int  # index of the rule that matched
    record_hash: str = ""


class PostmortemRequest(_Model):
    incident_id: str
    sop: str
    version: int
    region: str
    title: str
    severity: str | None
    outcome: str | None
    owner: str
    due_at: datetime
    template: str
    timeline: list[TimelineEntry]
    steps: list[StepState]


class PostmortemResult(_Model):
    document: str
    owner: str
    due_at: datetime


IncidentInput.model_rebuild()
