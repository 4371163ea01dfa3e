"""Actions on an incident: complete a task, approve or reject, add a note, cancel, send an
event.

The API does not decide who may act: it says who the caller is and which roles the Roster
gives them now, and the workflow's validators decide (a wrong role, a step that is not
active, a form that does not fit, a second vote, four eyes) before anything is recorded.
A refusal comes back as a problem whose status says why (see ``problems.REFUSAL_KINDS``).
Every action but an event is a Workflow Update whose id comes from the Idempotency-Key.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path

from sopflow.api.context import Caller, Parts, PartsDep
from sopflow.api.idempotency import IdempotencyKey, request_id_for
from sopflow.api.identity import Person, authorise_read
from sopflow.api.incidents import IncidentIdPath
from sopflow.api.models import (
    STEP_ID_PATTERN,
    ActionOut,
    AwayBody,
    AwayOut,
    CancelBody,
    CompleteBody,
    EventBody,
    NoteBody,
    UpdateBody,
    VoteBody,
)
from sopflow.api.problems import INVALID, NOT_FOUND, UNAVAILABLE, Problem
from sopflow.client.claims import step_away
from sopflow.client.incidents import Action, ActionRefused, IncidentService, Refusal
from sopflow.contract.messages import Cancel, CompleteTask, ExternalEvent, Note, PostUpdate, Vote
from sopflow.language.roster import RosterError

router = APIRouter(tags=["actions"])
log = structlog.get_logger("sopflow.api")

StepPath = Annotated[str, Path(pattern=STEP_ID_PATTERN, description="The step id")]


async def act(
    parts: Parts,
    person: Person,
    incident_id: str,
    action: Action,
    key: str | None,
) -> ActionOut:
    """Send ``action`` through the incident service with the request id ``key`` gives, and
    log what became of it (a refusal is logged as a refused authorisation). An incident the
    person may not see is a 404, as an unknown one, before anything is sent. An accepted
    action is announced to this process's listeners (``Parts.changes``)."""
    service = parts.temporal.require()
    await authorise_read(person, incident_id, service)
    request_id = request_id_for(person.handle, key)
    bound = log.bind(
        actor=person.handle,
        action=type(action).__name__,
        incident=incident_id,
        request_id=request_id,
    )
    try:
        result = await service.act(incident_id, action, request_id=request_id)
    except ActionRefused as exc:
        bound.info("api.action", outcome=f"refused:{exc.kind.value}", reason=exc.reason)
        if exc.kind is Refusal.REFUSED:
            await _unknown_step(service, incident_id, action)
        raise
    bound.info("api.action", outcome="accepted", step=result.step)
    parts.changes.changed(incident_id)
    return ActionOut.of(incident_id, result)


async def _unknown_step(service: IncidentService, incident_id: str, action: Action) -> None:
    """A 404 problem when the action names a step the incident's plan does not have (the
    workflow refuses it like any other conflict; for a caller it is an unknown resource).
    Read only after a refusal, so an accepted action costs no extra round trip."""
    step = getattr(action, "step", None)
    if step is not None and step not in (await service.plan(incident_id)).steps_by_id():
        raise Problem(NOT_FOUND, f"incident {incident_id} has no step {step!r}")


@router.post("/incidents/{incident_id}/steps/{step}/complete", summary="Complete a task")
async def complete(
    incident_id: IncidentIdPath,
    step: StepPath,
    body: CompleteBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Complete an active task with its form data (checked against the step's form)."""
    action = CompleteTask(step=step, actor=person.actor(), data=body.data)
    return await act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/steps/{step}/approve", summary="Approve")
async def approve(
    incident_id: IncidentIdPath,
    step: StepPath,
    body: VoteBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Approve an active approval step, with the reason."""
    action = Vote(step=step, actor=person.actor(), decision="approve", reason=body.reason)
    return await act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/steps/{step}/reject", summary="Reject")
async def reject(
    incident_id: IncidentIdPath,
    step: StepPath,
    body: VoteBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Reject an active approval step, with the reason (one rejection decides it)."""
    action = Vote(step=step, actor=person.actor(), decision="reject", reason=body.reason)
    return await act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/notes", summary="Add a note")
async def add_note(
    incident_id: IncidentIdPath,
    body: NoteBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Add a note to the timeline (anyone holding one of the SOP's roles). With ``claim``:
    take a task or approval, release it to the desk's queue, or (a lead) assign it."""
    if body.claim is not None and body.step is None:
        raise Problem(INVALID, "a claim is on a step: give `step`")
    if body.claim == "assign":
        await _known_person(parts, body.assignee)
    action = Note(
        actor=person.actor(),
        text=body.text,
        step=body.step,
        claim=body.claim,
        assignee=body.assignee if body.claim == "assign" else None,
        severity=body.severity,
    )
    return await act(parts, person, incident_id, action, key)


async def _known_person(parts: Parts, handle: str | None) -> None:
    """A 422 unless ``handle`` is someone in the Roster (work goes to a real person)."""
    if not handle:
        raise Problem(INVALID, "`claim: assign` needs `assignee`: who takes it")
    try:
        roster = await parts.identity.roster.current()
    except RosterError:
        raise Problem(UNAVAILABLE, "the Roster cannot be read") from None
    if handle not in roster.people:
        raise Problem(INVALID, f"{handle!r} is not in the Roster")


@router.post("/me/away", summary="Step away", tags=["me"])
async def step_away_route(body: AwayBody, person: Caller, parts: PartsDep) -> AwayOut:
    """Release every task or approval the caller has claimed back to its desk's queue, with
    the caller's note on each: nothing they held waits for them while they are away."""
    service = parts.temporal.require()
    released = await step_away(service, person.actor(), body.text)
    for incident_id, _step in released:
        parts.changes.changed(incident_id)
    return AwayOut(released=[{"incident": i, "step": s} for i, s in released])


@router.post("/incidents/{incident_id}/cancel", summary="Cancel the incident")
async def cancel(
    incident_id: IncidentIdPath,
    body: CancelBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Cancel a running incident (the lead role only), with the reason."""
    action = Cancel(actor=person.actor(), reason=body.reason)
    return await act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/updates", summary="Post a stakeholder update")
async def post_update(
    incident_id: IncidentIdPath,
    body: UpdateBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Post the stakeholder update the incident asked for (the SOP's `updates`): the asked
    role only (usually the lead), while one is due; the text goes to the SOP's update
    destination. Refused (409) when no update is due, 403 without the role, 422 for an
    empty or too long text."""
    action = PostUpdate(actor=person.actor(), text=body.text)
    return await act(parts, person, incident_id, action, key)


@router.post("/incidents/{incident_id}/events", summary="Send an event")
async def send_event(
    incident_id: IncidentIdPath,
    body: EventBody,
    person: Caller,
    parts: PartsDep,
    key: IdempotencyKey = None,
) -> ActionOut:
    """Send an external event for a ``wait: {event: ...}`` step. An event is a signal: it
    is never refused by the workflow (only a closed or unknown incident is), and it is not
    deduplicated, so the Idempotency-Key does not apply."""
    action = ExternalEvent(name=body.name, data=body.data, sent_by=person.handle)
    return await act(parts, person, incident_id, action, key)
