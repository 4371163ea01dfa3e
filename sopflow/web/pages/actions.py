"""The incident page's forms: complete a task, approve or reject, add a note, take,
release or assign a task or approval (a note with a claim), cancel.

Each is sent through the API's own route function (the same checks, logging, signing and
idempotency as ``POST /api/v1/...``), and the workflow decides. A task's form is first run
through the workflow's own form check (``workflows.form_check``), so a form that does not
fit comes back at once, field by field, and nothing is sent.

Every answer to a form is a redirect to the incident's page (POST, redirect, GET), so a
reload never sends a form again. An accepted action's says what was done; a refused one's
points at the form it came from (``#form-task-verify``), and the page's next GET shows, once,
the reason beside that form, what was typed still in it, and the status the API would answer
with: the refusal waits in the session, by incident (``FormFlash``).

The stakeholder update's and the post-mortem review's forms (``updates.py``, ``reviews.py``)
are sent the same way, through ``opened``, ``act`` and ``send_back``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.responses import RedirectResponse, Response

from sopflow.api import actions as api
from sopflow.api.identity import authorise_read
from sopflow.api.models import (
    STEP_ID_PATTERN,
    ActionOut,
    CancelBody,
    CompleteBody,
    NoteBody,
    VoteBody,
)
from sopflow.api.problems import NOT_FOUND, Problem, refusal_problem
from sopflow.client.errors import ActionRefused
from sopflow.contract.messages import ClaimKind
from sopflow.contract.plan import TaskPlan
from sopflow.contract.reviews import MAX_FACTOR, MAX_TEXT, MAX_TITLE
from sopflow.language.roster import RosterError
from sopflow.web.form_data import parse
from sopflow.web.form_errors import form_check_errors, merge
from sopflow.web.pages.common import IncidentId, anchor, flash_key, key_of
from sopflow.web.pages.incident import task_fields
from sopflow.web.render import Refused
from sopflow.web.security import PREFIX
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Form, Visit, console_of, first, text
from workflows.form_check import form_errors

Send = Callable[[], Awaitable[Any]]
# The longest text each field takes (the API's body models say the same): for the message
# beside a field that is too long. The review's fields are its contract's bounds.
LIMITS = {
    "reason": 4000,
    "text": 8000,
    "note": MAX_TEXT,
    "changes": MAX_TEXT,
    "title": MAX_TITLE,
    "owner": MAX_TITLE,
    "factors": MAX_FACTOR,
}
# What the page says after an accepted action (the workflow's answer fills the braces).
DONE = {
    "task": "The task is {}.",
    "vote": "Your vote is recorded: {}.",
    "note": "Your note is on the timeline.",
    "cancel": "The incident is {}.",
    "update": "Your stakeholder update is sent ({}).",
}

# Taking needs no note of the person's (the timeline says "on it", as `sopflow task claim`
# does); releasing and assigning do.
TAKEN = "on it"
CLAIMED = {
    "claimed": "You have {step} now: the desk sees it is with you.",
    "released": "{step} is back in the desk's queue.",
    "assigned": "{step} is with {to} now.",
}


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A body model's validation errors, by field, in words."""
    out: dict[str, list[str]] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "string_too_long":
            message = f"at most {LIMITS.get(name, 0)} characters"
        elif error["type"] in ("string_too_short", "string_pattern_mismatch") and name in LIMITS:
            message = "write something here"
        else:
            message = str(error["msg"])
        out.setdefault(name, []).append(message)
    return out


def step_of(step: str) -> str:
    """A step id from a path, as the API's routes take it; 404 otherwise."""
    if not re.fullmatch(STEP_ID_PATTERN, step):
        raise Refused(404, "Not found", "There is no such page.")
    return step


async def opened(request: Request) -> tuple[Visit, Form]:
    """The signed-in person sending a form, and the form, after the same-origin and CSRF
    checks (403 otherwise: nothing is done)."""
    console = console_of(request)
    visit = await console.visit(request)
    return visit, await console.form(request, visit.session)


def send_back(visit: Visit, incident_id: str, failure: FormFlash) -> Response:
    """Keep the refused form for the incident's page, and send the browser there, to the
    form (a 303: the browser GETs it, so a reload loads the page and sends nothing)."""
    visit.session.keep_form(flash_key(incident_id), failure)
    where = f"{PREFIX}/incidents/{incident_id}#{anchor(failure.control)}"
    return RedirectResponse(where, status_code=303)


async def _run(
    request: Request,
    visit: Visit,
    incident_id: str,
    control: str,
    form: Form,
    send: Send,
    done: Callable[[Any], str] | None = None,
    where: str = "timeline",
) -> Response:
    """Send; on success or refusal, redirect to the incident (a refusal to its form, an
    accepted action to ``where``), with what was done (``done``: from the answer)."""
    try:
        result = await send()
    except (Problem, ActionRefused) as exc:
        problem = refusal_problem(exc) if isinstance(exc, ActionRefused) else exc
        if problem.kind.status not in (403, 404, 409, 422):
            raise
        failure = FormFlash(control, problem.kind.status, str(problem), form)
        return send_back(visit, incident_id, failure)
    said = DONE.get(control.split(":")[0], "Done: {}.").format(result.detail)
    visit.session.flash = done(result) if done else said
    return RedirectResponse(f"{PREFIX}/incidents/{incident_id}#{where}", status_code=303)


async def act(
    request: Request,
    visit: Visit,
    incident_id: str,
    control: str,
    form: Form,
    make: Callable[[], BaseModel],
    call: Callable[[Any], Awaitable[Any]],
    done: Callable[[Any], str] | None = None,
    where: str = "timeline",
) -> Response:
    """Build the API's body from the form (its errors shown per field), then send it."""
    try:
        made = make()
    except ValidationError as exc:
        return send_back(visit, incident_id, FormFlash(control, 422, None, form, field_errors(exc)))
    return await _run(request, visit, incident_id, control, form, lambda: call(made), done, where)


async def complete(request: Request, incident_id: IncidentId, step: str) -> Response:
    """``POST .../steps/{step}/complete``: the task's form, checked as the workflow will."""
    visit, form = await opened(request)
    service = visit.parts.temporal.require()
    # The API's one check before reading an incident: one the person may not see is a 404,
    # exactly as an unknown one, before its plan says anything about it.
    await authorise_read(visit.person, incident_id, service)
    plan = await service.plan(incident_id)
    task = plan.steps_by_id().get(step_of(step))
    if not isinstance(task, TaskPlan):
        raise Problem(NOT_FOUND, f"incident {incident_id} has no task {step!r}")
    fields = task_fields(plan, step)
    parsed = parse(fields, form)
    checked = form_check_errors(fields, form_errors(task.form, parsed.data))
    # A field whose text could not be read says so, not that it is missing.
    errors = merge(parsed.problems, {k: v for k, v in checked.items() if k not in parsed.problems})
    if errors:
        return send_back(visit, incident_id, FormFlash(f"task:{step}", 422, None, form, errors))
    return await act(
        request,
        visit,
        incident_id,
        f"task:{step}",
        form,
        lambda: CompleteBody(data=parsed.data),
        lambda made: api.complete(
            incident_id=incident_id,
            step=step,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


async def vote(request: Request, incident_id: IncidentId, step: str) -> Response:
    """``POST .../steps/{step}/vote``: approve or reject (the button pressed), with a reason."""
    visit, form = await opened(request)
    step = step_of(step)
    decision = first(form, "decision")
    if decision not in ("approve", "reject"):
        raise Refused(400, "Bad request", "Choose approve or reject.")
    route = api.approve if decision == "approve" else api.reject
    return await act(
        request,
        visit,
        incident_id,
        f"vote:{step}",
        form,
        lambda: VoteBody(reason=text(form, "reason")),
        lambda made: route(
            incident_id=incident_id,
            step=step,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


async def note(request: Request, incident_id: IncidentId) -> Response:
    """``POST .../notes``: a note on the timeline, optionally about one step."""
    visit, form = await opened(request)
    return await act(
        request,
        visit,
        incident_id,
        "note",
        form,
        lambda: NoteBody(text=text(form, "text"), step=first(form, "step") or None),
        lambda made: api.add_note(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


async def _claim(request: Request, incident_id: str, step: str, kind: ClaimKind) -> Response:
    """Take a task or approval, release it (with a note), or assign it (a lead: to someone,
    with a note): a note with a claim, sent through the API's notes route; the workflow
    decides who may."""
    visit, form = await opened(request)
    step = step_of(step)
    control = f"claim:{step}"
    form = {**form, "claim": [kind]}  # which of the step's three forms, if it comes back
    assignee = first(form, "assignee").strip() if kind == "assign" else None
    if assignee is not None:
        problem = await _assignee_problem(visit, assignee)
        if problem:
            errors = {"assignee": [problem]}
            if not text(form, "text").strip():
                errors["text"] = ["write something here"]
            return send_back(visit, incident_id, FormFlash(control, 422, None, form, errors))
    said = TAKEN if kind == "take" else text(form, "text")

    def done(result: ActionOut) -> str:
        message = CLAIMED.get(result.detail)
        return message.format(step=step, to=assignee) if message else f"Done: {result.detail}."

    return await act(
        request,
        visit,
        incident_id,
        control,
        form,
        lambda: NoteBody(text=said, step=step, claim=kind, assignee=assignee),
        lambda made: api.add_note(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
        done,
        anchor(control),
    )


async def take(request: Request, incident_id: IncidentId, step: str) -> Response:
    """``POST .../steps/{step}/take``: the desk sees the step is with you."""
    return await _claim(request, incident_id, step, "take")


async def release(request: Request, incident_id: IncidentId, step: str) -> Response:
    """``POST .../steps/{step}/release``: back to the desk's queue, with where it stands
    (yours, or anyone's as a lead)."""
    return await _claim(request, incident_id, step, "release")


async def assign(request: Request, incident_id: IncidentId, step: str) -> Response:
    """``POST .../steps/{step}/assign``: a lead gives the step to someone, saying why."""
    return await _claim(request, incident_id, step, "assign")


async def _assignee_problem(visit: Visit, handle: str) -> str | None:
    """Why ``handle`` cannot be assigned work, in words (None: they can): someone must be
    chosen, and be in the Roster. Whether they hold the step's roles is the lead's call
    (the form offers those who do); whether the lead may assign is the workflow's."""
    if not handle:
        return "choose who takes it"
    try:
        people = (await visit.parts.identity.roster.current()).people
    except RosterError:
        return None  # the workflow still decides; an unreadable Roster fails the visit anyway
    return None if handle in people else f"{handle} is not in the Roster"


async def cancel(request: Request, incident_id: IncidentId) -> Response:
    """``POST .../cancel``: end the incident (the lead role), with a reason."""
    visit, form = await opened(request)
    return await act(
        request,
        visit,
        incident_id,
        "cancel",
        form,
        lambda: CancelBody(reason=text(form, "reason")),
        lambda made: api.cancel(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


ROUTES = (
    ("/incidents/{incident_id}/steps/{step}/complete", complete, ("POST",)),
    ("/incidents/{incident_id}/steps/{step}/vote", vote, ("POST",)),
    ("/incidents/{incident_id}/notes", note, ("POST",)),
    ("/incidents/{incident_id}/steps/{step}/take", take, ("POST",)),
    ("/incidents/{incident_id}/steps/{step}/release", release, ("POST",)),
    ("/incidents/{incident_id}/steps/{step}/assign", assign, ("POST",)),
    ("/incidents/{incident_id}/cancel", cancel, ("POST",)),
)
