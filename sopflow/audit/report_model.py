"""The audit report's JSON shape (``sopflow audit report --format json``), version 1.

Stable: fields may be added in later versions of ``report_format`` 1, never renamed or
removed. Every item that comes from one history event says which (``EventRef``: the run,
counted from 1, and the event id within that run). docs/audit.md describes each field and
where in the history it comes from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_FORMAT = 1  # AuditReport.report_format

ActionResult = Literal["applied", "handler_failed", "no_outcome"]
ActivityStatus = Literal["completed", "failed", "timed_out", "cancelled", "pending"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventRef(_Out):
    """A history event: the run (1 = the incident's first run) and its event id."""

    run: int
    event_id: int


class Source(_Out):
    """What the report was built from."""

    kind: Literal["server", "export", "history"]
    location: str  # "namespace/workflow-id" on a server, else the file path(s)
    digest: str | None = None  # an export's recorded digest
    digest_ok: bool | None = None  # None: not an export, nothing to check


class SopRef(_Out):
    id: str
    version: int
    title: str
    owner: str


class RunSummary(_Out):
    run: int
    run_id: str
    started_at: datetime
    closed_at: datetime | None
    events: int
    # completed | failed | cancelled | terminated | timed_out | continued_as_new | running
    closed_by: str
    # The plan this run ran (a migration gives the next run a later version's plan); None
    # when its input could not be read (see the notes).
    version: int | None = None
    plan_hash: str | None = None
    plan_hash_ok: bool | None = None


class IncidentOutcome(_Out):
    """How the incident ended. ``status`` is the incident's (running, completed, failed,
    cancelled) or Temporal's when the workflow itself did not end normally (terminated,
    timed_out, or failed without a result)."""

    status: str
    outcome: str | None
    closed_at: datetime | None = None
    ref: EventRef | None = None
    detail: str = ""


SignatureStatus = Literal["valid", "invalid", "unknown_key", "unsigned", "not_checked"]


class SignatureEntry(_Out):
    """Who signed an action (``sopflow.audit.signatures``). ``status``: ``valid`` (a given
    key signed exactly what the history records), ``invalid`` (it does not match: the
    action or its update id was changed), ``unknown_key`` (signed by a key not given),
    ``unsigned`` (recorded before actions were signed), ``not_checked`` (no keys given:
    only the key the signature names)."""

    status: SignatureStatus
    key_id: str | None = None  # the key the signature names
    label: str | None = None  # that key's label (its file name), when a given key matched
    request_id: str | None = None
    issued_at: datetime | None = None
    detail: str | None = None  # why it is invalid or unknown


class Action(_Out):
    """An accepted responder action (a Workflow Update). Refused actions never reach the
    history and are not here."""

    at: datetime
    ref: EventRef  # the WorkflowExecutionUpdateAccepted event
    update_id: str
    action: str  # complete_task | vote | add_note | cancel_incident (the update's name)
    actor: str | None
    roles: list[str] = Field(default_factory=list)
    step: str | None = None
    decision: str | None = None  # votes: approve | reject
    reason: str | None = None  # a vote's or a cancellation's reason, a note's text
    data: dict[str, Any] | None = None  # a completed task's form
    client_identity: str = ""  # the Temporal client that sent it (e.g. pid@host)
    result: ActionResult
    failure: str | None = None  # the handler's failure, when result is handler_failed
    completed_ref: EventRef | None = None  # the WorkflowExecutionUpdateCompleted event
    signature: SignatureEntry | None = None  # None: the request could not be decoded


class VoteEntry(_Out):
    at: datetime
    ref: EventRef
    step: str
    voter: str
    roles: list[str]
    decision: str
    reason: str
    result: ActionResult


class DisclosureEntry(_Out):
    """A disclosure check: the request (ActivityTaskScheduled input) and the decision
    (ActivityTaskCompleted result)."""

    step: str
    at: datetime  # when it was scheduled
    scheduled: EventRef
    completed: EventRef | None
    policy: str
    policy_title: str
    jurisdiction: str
    facts: dict[str, Any]
    status: ActivityStatus
    decision: str | None = None  # allowed | needs_approval | denied
    legal_basis: str | None = None
    allowed: list[str] = Field(default_factory=list)  # the categories that may be disclosed
    reason: str | None = None
    rule: int | None = None  # the index of the policy rule that decided
    rule_when: str | None = None  # that rule's condition (None: the default rule)
    record_hash: str | None = None  # the disclosure-log record's hash
    failure: str | None = None


class NotificationEntry(_Out):
    step: str
    at: datetime  # when it was scheduled
    scheduled: EventRef
    completed: EventRef | None
    channel: str
    to: str
    to_is_role: bool
    escalation: bool  # sent on the escalation channel (an SLA breach)
    status: ActivityStatus
    delivered: bool | None = None
    failure: str | None = None


class Breach(_Out):
    """An SLA breach. ``source``: ``recorded timeline`` (a ``sla.breached`` entry of the
    state the history holds), or ``escalation notification`` (inferred from an escalation
    sent after that state, or missing from it: see ``notes``)."""

    step: str
    at: datetime
    detail: str
    escalated_to: str | None
    escalation: EventRef | None  # the escalation notification's ActivityTaskScheduled
    source: Literal["recorded timeline", "escalation notification"]


class SignalEntry(_Out):
    at: datetime
    ref: EventRef
    name: str  # the external event's name (a `wait: {event: ...}` step waits on it)
    data: dict[str, Any] = Field(default_factory=dict)
    client_identity: str = ""


class StepSummary(_Out):
    """A step as the last state recorded in the history has it."""

    id: str
    type: str
    status: str
    role: str | None
    started_at: datetime | None
    finished_at: datetime | None
    submitted_by: str | None
    breaches: int
    escalated_to: list[str]


class TimelineItem(_Out):
    """One thing that happened, from one history event."""

    at: datetime
    ref: EventRef
    kind: str
    actor: str = "system"
    step: str | None = None
    detail: str = ""


class RecordedEntry(_Out):
    """An entry of the timeline the workflow kept in its state."""

    at: datetime
    actor: str
    kind: str
    step: str | None
    detail: str


class UpdateEntry(_Out):
    """A stakeholder update the incident asked for (the SOP's `updates`), from the state."""

    number: int
    severity: str
    asked: str  # the role asked for it
    asked_at: datetime
    status: Literal["due", "posted", "missed"]
    posted_at: datetime | None = None
    posted_by: str | None = None
    escalated_to: str | None = None


class ReviewItemEntry(_Out):
    """An action item of the post-mortem review, from the ``add_item`` action that added it
    (``A1``, ``A2``, ... in the order they were applied) and the ``close_item`` that closed
    it. ``ref``s are events of the review's own history (its run 1 is its first run)."""

    id: str
    title: str
    owner: str
    due_at: datetime
    added_by: str
    added_at: datetime
    added_ref: EventRef
    status: Literal["open", "closed"] = "open"
    closed_by: str | None = None
    closed_at: datetime | None = None
    closed_ref: EventRef | None = None
    note: str | None = None


class ReviewCauseEntry(_Out):
    """The root cause as last recorded (``revisions``: how many earlier ones it replaced)."""

    factors: list[str]
    step: str | None = None
    policy: str | None = None
    changes: str
    recorded_by: str
    recorded_at: datetime
    ref: EventRef
    revisions: int = 0


class ReviewNotice(_Out):
    """A reminder or escalation the review sent (the notify activity): ``key`` is its
    idempotency key without the review id (``A1/reminder``, ``review/overdue``)."""

    key: str
    to: str
    to_is_role: bool
    escalation: bool  # an overdue notice (``.../overdue``), not a reminder
    at: datetime  # when it was scheduled
    scheduled: EventRef
    status: ActivityStatus
    delivered: bool | None = None
    failure: str | None = None


class ReviewActionEntry(_Out):
    """An accepted ``review_action`` Update, with who signed it (over the review's id)."""

    at: datetime
    ref: EventRef
    update_id: str
    kind: str | None  # add_item | close_item | root_cause | done (None: undecodable)
    actor: str | None
    roles: list[str] = Field(default_factory=list)
    item: str | None = None
    note: str | None = None
    client_identity: str = ""
    result: ActionResult
    failure: str | None = None
    signature: SignatureEntry | None = None


class ReviewReport(_Out):
    """The incident's post-mortem review, from its own history's events (docs/audit.md)."""

    review_id: str
    step: str  # the incident's post-mortem step that opened it
    document: str
    owner: str
    due_at: datetime
    escalate_to: str
    opened_at: datetime
    runs: int
    status: str  # open | closed, or Temporal's (terminated, timed_out, failed)
    done_by: str | None = None
    done_at: datetime | None = None
    done_ref: EventRef | None = None
    done_note: str | None = None
    items: list[ReviewItemEntry] = Field(default_factory=list)
    root_cause: ReviewCauseEntry | None = None
    notices: list[ReviewNotice] = Field(default_factory=list)
    actions: list[ReviewActionEntry] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class AuditReport(_Out):
    report_format: Literal[1] = 1
    generated_at: datetime
    source: Source
    incident_id: str
    workflow_id: str
    sop: SopRef
    region: str
    plan_hash: str
    plan_hash_ok: bool  # the recorded plan hashes to the hash it declares
    opened_by: str
    opened_at: datetime
    severity: str | None
    outcome: IncidentOutcome
    runs: list[RunSummary]
    actions: list[Action]
    votes: list[VoteEntry]
    disclosures: list[DisclosureEntry]
    notifications: list[NotificationEntry]  # all, escalations included
    escalations: list[NotificationEntry]  # those on the escalation channel
    sla_breaches: list[Breach]
    signals: list[SignalEntry]
    steps: list[StepSummary]
    timeline: list[TimelineItem]
    # The last IncidentState in the history: the completion result, or the state carried
    # by the last continue-as-new; None when the history holds none (a first run still open).
    state_source: str | None
    recorded_timeline: list[RecordedEntry]
    # Stakeholder updates asked, posted and missed (empty for SOPs without `updates`).
    stakeholder_updates: list[UpdateEntry] = Field(default_factory=list)
    # The post-mortem review the incident started, when its history is given (an export
    # of format 2, the server, or its history file beside the incident's).
    postmortem_review: ReviewReport | None = None
    notes: list[str]  # what could not be decoded, discrepancies, what is not yet known
