"""Post-mortem reviews: the messages of the review workflow a post-mortem step starts.

A review (``<incident id>/postmortem``, see ``names.review_id``) is a durable workflow of its
own that outlives its incident: an owner, a due date, action items each with an owner and a
due date, and the root cause recorded as structured fields so programme metrics can count
repeat causes (``sopflow.client.metrics.causes``). Its people's actions are one signed
Update, :class:`ReviewAction`; its ``state`` query (and its result) is :class:`ReviewState`.

Like ``messages`` this module imports only pydantic and the contract, so the Temporal
sandbox can load it; add fields with defaults, never rename or remove one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sopflow.contract.messages import ActionSignature, Actor, TimelineEntry

# Bounds the workflow enforces (the API's models say the same, so most slips are a 422
# before anything is sent): short codes that count well, texts that fit a table.
MAX_FACTOR = 80
MAX_FACTORS = 12
MAX_TITLE = 200
MAX_TEXT = 4000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewInput(_Model):
    """What starts a review: the incident it follows up and the plan's settings for it."""

    review_id: str
    incident_id: str
    sop: str
    version: int
    region: str
    title: str
    severity: str | None = None
    step: str  # the post-mortem step that opened it
    document: str  # the Markdown draft the step wrote
    owner: str  # a role of the plan, or a person
    due_at: datetime
    remind_s: int  # reminders go this long before a due date (at most half-way there)
    escalate_to: str  # the role told when the review or an item is overdue
    roles: list[str]  # the plan's roles: an owner that is one is notified as a role
    global_roles: list[str] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)  # a root cause may name one of these
    policies: list[str] = Field(default_factory=list)  # ... or one of these policies
    data_task_queue: str | None = None


ReviewActionKind = Literal["add_item", "close_item", "root_cause", "done"]


class ReviewAction(_Model):
    """One action on a review, signed like every responder action. ``kind`` says which and
    which fields it uses: ``add_item`` (title, owner, due_at), ``close_item`` (item, note),
    ``root_cause`` (factors, cause_step and/or policy, changes), ``done`` (note, optional).
    The workflow's validator refuses a missing or wrong field with the reason."""

    kind: ReviewActionKind
    actor: Actor
    item: str | None = Field(default=None, exclude_if=lambda v: v is None)
    title: str | None = Field(default=None, exclude_if=lambda v: v is None)
    owner: str | None = Field(default=None, exclude_if=lambda v: v is None)
    due_at: datetime | None = Field(default=None, exclude_if=lambda v: v is None)
    note: str | None = Field(default=None, exclude_if=lambda v: v is None)
    factors: list[str] = Field(default_factory=list)
    cause_step: str | None = Field(default=None, exclude_if=lambda v: v is None)
    policy: str | None = Field(default=None, exclude_if=lambda v: v is None)
    changes: str | None = Field(default=None, exclude_if=lambda v: v is None)
    signature: ActionSignature | None = None


ItemStatus = Literal["open", "closed"]


class ActionItem(BaseModel):
    """One action item agreed in the review. Mutable inside the workflow."""

    model_config = ConfigDict(extra="forbid")

    id: str  # A1, A2, ... in the order they were added
    title: str
    owner: str
    due_at: datetime
    opened_by: str
    opened_at: datetime
    status: ItemStatus = "open"
    closed_by: str | None = None
    closed_at: datetime | None = None
    note: str | None = None


class RootCause(_Model):
    """Why it happened, as fields metrics can count: contributing factors (short codes),
    the SOP step and/or disclosure policy involved, and what changes as a result."""

    factors: list[str]
    step: str | None = None
    policy: str | None = None
    changes: str
    recorded_by: str
    recorded_at: datetime


ReviewStatus = Literal["open", "closed"]


class ReviewState(BaseModel):
    """The whole review: the query's answer and the workflow's result."""

    model_config = ConfigDict(extra="forbid")

    review_id: str
    incident_id: str
    sop: str
    version: int
    region: str
    title: str
    severity: str | None = None
    document: str
    owner: str
    due_at: datetime
    escalate_to: str
    opened_at: datetime
    status: ReviewStatus = "open"
    closed_at: datetime | None = None
    closed_by: str | None = None
    items: list[ActionItem] = Field(default_factory=list)
    root_cause: RootCause | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # The reminders and escalations sent (their keys): each goes out once.
    sent: list[str] = Field(default_factory=list)
    recent_requests: list[str] = Field(default_factory=list)

    def open_items(self) -> list[ActionItem]:
        """The items not closed yet, in the order they were added."""
        return [i for i in self.items if i.status == "open"]
