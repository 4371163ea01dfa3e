"""Post-mortem reviews: read an incident's review, add and close its action items, record
the root cause, mark it done (docs/postmortems.md).

A review is seen by whoever may see its incident: every route checks the incident's
need-to-know first, so the review of an incident a person cannot see is a 404, as the
incident is. As with an incident's actions, the API says who the caller is and the review's
validator decides (owner, lead, item owner; open items; dates), refusing with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from sopflow.api.context import Caller, Parts, PartsDep
from sopflow.api.idempotency import IdempotencyKey, request_id_for
from sopflow.api.identity import Person, authorise_read
from sopflow.api.incidents import IncidentIdPath
from sopflow.api.models import NOT_BLANK, STEP_ID_PATTERN, ActionOut
from sopflow.api.problems import INVALID, UNAVAILABLE, Problem
from sopflow.client.errors import ActionRefused
from sopflow.client.reviews import ReviewService
from sopflow.contract.reviews import (
    MAX_FACTOR,
    MAX_FACTORS,
    MAX_TEXT,
    MAX_TITLE,
    ReviewAction,
    ReviewState,
)
from sopflow.language.roster import RosterError

router = APIRouter(tags=["post-mortems"])
log = structlog.get_logger("sopflow.api")

ItemPath = Annotated[str, Path(pattern=r"^A[0-9]{1,4}$", description="The action item id")]
Factor = Annotated[str, Field(min_length=1, max_length=MAX_FACTOR, pattern=NOT_BLANK)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemBody(_Body):
    """A new action item: what, who (a person in the Roster or a role of the SOP), by when."""

    title: str = Field(min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)
    owner: str = Field(min_length=1, max_length=MAX_TITLE)
    due_at: datetime


class CloseBody(_Body):
    """What was done."""

    note: str = Field(min_length=1, max_length=MAX_TEXT, pattern=NOT_BLANK)


class RootCauseBody(_Body):
    """The root cause, as fields metrics count: contributing factors (short codes), the SOP
    step and/or disclosure policy involved, and what changes."""

    factors: list[Factor] = Field(min_length=1, max_length=MAX_FACTORS)
    step: str | None = Field(default=None, pattern=STEP_ID_PATTERN)
    policy: str | None = Field(default=None, min_length=1, max_length=100)
    changes: str = Field(min_length=1, max_length=MAX_TEXT, pattern=NOT_BLANK)


class DoneBody(_Body):
    """An optional closing note."""

    note: str | None = Field(default=None, max_length=MAX_TEXT)


async def _reviews(parts: Parts, person: Person, incident_id: str) -> ReviewService:
    """The review service, once the caller may see the incident (else its 404)."""
    service = parts.temporal.require()
    await authorise_read(person, incident_id, service)
    return ReviewService.of(service)


async def _act(
    parts: Parts, person: Person, incident_id: str, action: ReviewAction, key: str | None
) -> ActionOut:
    reviews = await _reviews(parts, person, incident_id)
    request_id = request_id_for(person.handle, key)
    bound = log.bind(
        actor=person.handle,
        action=f"review.{action.kind}",
        incident=incident_id,
        request_id=request_id,
    )
    try:
        result = await reviews.act(incident_id, action, request_id=request_id)
    except ActionRefused as exc:  # logged as an incident action's refusal is (metrics count it)
        bound.info("api.action", outcome=f"refused:{exc.kind.value}", reason=exc.reason)
        raise
    bound.info("api.action", outcome="accepted")
    return ActionOut.of(incident_id, result)


@router.get(
    "/incidents/{incident_id}/postmortem",
    summary="The incident's post-mortem review",
    response_model_exclude={"recent_requests"},
)
async def get_review(incident_id: IncidentIdPath, person: Caller, parts: PartsDep) -> ReviewState:
    """The whole review: owner, due date, action items, root cause, timeline, reminders
    sent. 404 when the incident has none (its post-mortem step has not run) or the caller
    may not see the incident."""
    reviews = await _reviews(parts, person, incident_id)
    return await reviews.state(incident_id)


@router.post("/incidents/{incident_id}/postmortem/items", summary="Add an action item")
async def add_item(
    incident_id: IncidentIdPath,
    body: ItemBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Add an action item (the review's owner or a lead); its owner is reminded before its
    due date and the review's escalation role told when it is overdue, until it is closed.
    The answer's ``detail`` names the new item's id (``A1 added: ...``)."""
    # Need-to-know first: an owner check answered for an incident the caller may not see
    # would tell them it exists (422 where an unknown incident is a 404).
    await _reviews(parts, person, incident_id)
    await _known_owner(parts, incident_id, body.owner)
    action = ReviewAction(
        kind="add_item",
        actor=person.actor(),
        title=body.title,
        owner=body.owner,
        due_at=body.due_at,
    )
    return await _act(parts, person, incident_id, action, key)


async def _known_owner(parts: Parts, incident_id: str, owner: str) -> None:
    """A 422 unless ``owner`` is a person in the Roster or a role of the incident's SOP."""
    service = parts.temporal.require()
    try:
        roster = await parts.identity.roster.current()
    except RosterError:
        raise Problem(UNAVAILABLE, "the Roster cannot be read") from None
    if owner in roster.people:
        return
    if owner not in (await service.plan(incident_id)).roles:
        raise Problem(INVALID, f"{owner!r} is neither a person in the Roster nor a role here")


@router.post(
    "/incidents/{incident_id}/postmortem/items/{item}/close", summary="Close an action item"
)
async def close_item(
    incident_id: IncidentIdPath,
    item: ItemPath,
    body: CloseBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Close an action item with a note (its owner, the review's owner or a lead)."""
    action = ReviewAction(kind="close_item", actor=person.actor(), item=item, note=body.note)
    return await _act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/postmortem/root-cause", summary="Record the root cause")
async def root_cause(
    incident_id: IncidentIdPath,
    body: RootCauseBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Record (or revise) the root cause (the review's owner or a lead). A step or policy
    the incident's plan does not have is refused (422)."""
    action = ReviewAction(
        kind="root_cause",
        actor=person.actor(),
        factors=list(body.factors),
        cause_step=body.step,
        policy=body.policy,
        changes=body.changes,
    )
    return await _act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/postmortem/done", summary="Mark the review done")
async def done(
    incident_id: IncidentIdPath,
    body: DoneBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Mark the review done (its owner only), which closes it. Refused (409) while any
    action item is open; the reason lists them."""
    action = ReviewAction(kind="done", actor=person.actor(), note=body.note or None)
    return await _act(parts, person, incident_id, action, key)
