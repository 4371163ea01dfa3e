"""The incident page's follow-up forms: post the stakeholder update that is due, and act on
the post-mortem review (add an action item, close one, record the root cause, mark it done).

Each goes through the API's own route function (``sopflow/api/actions.py``,
``sopflow/api/reviews.py``): the same need-to-know check, signing, idempotency and logging as
``POST /api/v1/...``, and the workflow (the incident's, or the review's) decides. As every
console form: the same-origin and CSRF checks first, a form that does not fit the API's body
comes back at once with nothing sent, and every answer is a redirect to the incident's page
(an accepted one to its section, a refused one to its form, with the reason). An accepted
review action is announced to open pages as an incident's action is (a review changes none
of the incident's search attributes, so the live hub would not see it by itself).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from sopflow.api import actions as api
from sopflow.api import reviews as api_reviews
from sopflow.api.identity import authorise_read
from sopflow.api.models import ActionOut, UpdateBody
from sopflow.web.pages.actions import act, field_errors, opened, send_back
from sopflow.web.pages.common import IncidentId, key_of
from sopflow.web.pages.reviews import ADD, CAUSE, DONE, close_control
from sopflow.web.pages.updates import CONTROL as UPDATE
from sopflow.web.render import Refused
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Form, Visit, first, text

ITEM_PATTERN = r"A[0-9]{1,4}"
# An item is due by the end of the day chosen, in UTC.
END_OF_DAY = time(23, 59, tzinfo=UTC)
DUE_HINT = "choose the day it is due"
FACTORS_HINT = "name at least one contributing factor (short codes, comma-separated)"


def _said(result: ActionOut) -> str:
    return f"Post-mortem review: {result.detail}."


def due_of(value: str) -> datetime | None:
    """A date field (``2031-02-20``) as the end of that day in UTC; None when it is none."""
    try:
        return datetime.combine(date.fromisoformat(value.strip()), END_OF_DAY)
    except ValueError:
        return None


def factors_of(value: str) -> list[str]:
    """``late-signal, no-runbook`` as its factors (empty ones left out)."""
    return [f.strip() for f in value.split(",") if f.strip()]


async def _review_act(
    request: Request,
    visit: Visit,
    incident_id: str,
    control: str,
    form: Form,
    make: Callable[[], BaseModel],
    route: Callable[[Any], Awaitable[ActionOut]],
) -> Response:
    """Send one review action through its API route; announce it to open pages. The
    incident's need-to-know first, before anything of the form is checked against it (an
    item's owner against its plan's roles): one the person may not see is a 404 page."""
    await authorise_read(visit.person, incident_id, visit.parts.temporal.require())

    async def call(made: Any) -> ActionOut:
        result = await route(made)
        visit.parts.changes.changed(incident_id)
        return result

    return await act(request, visit, incident_id, control, form, make, call, _said, "review")


async def post_update(request: Request, incident_id: IncidentId) -> Response:
    """``POST .../updates``: the stakeholder update that is due, to the SOP's destination."""
    visit, form = await opened(request)
    return await act(
        request,
        visit,
        incident_id,
        UPDATE,
        form,
        lambda: UpdateBody(text=text(form, "text")),
        lambda made: api.post_update(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
        where="updates",
    )


async def add_item(request: Request, incident_id: IncidentId) -> Response:
    """``POST .../postmortem/items``: an action item, its owner and the day it is due."""
    visit, form = await opened(request)
    fields = {
        "title": text(form, "title"),
        "owner": first(form, "owner").strip(),
        "due_at": due_of(first(form, "due")),
    }
    try:
        body = api_reviews.ItemBody.model_validate(fields)
    except ValidationError as exc:
        errors = field_errors(exc)
        if errors.pop("due_at", None) is not None:
            errors["due"] = [DUE_HINT]
        return send_back(visit, incident_id, FormFlash(ADD, 422, None, form, errors))
    return await _review_act(
        request,
        visit,
        incident_id,
        ADD,
        form,
        lambda: body,
        lambda made: api_reviews.add_item(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


async def close_item(request: Request, incident_id: IncidentId, item: str) -> Response:
    """``POST .../postmortem/items/{item}/close``: with a note saying what was done."""
    if not re.fullmatch(ITEM_PATTERN, item):
        raise Refused(404, "Not found", "There is no such page.")
    visit, form = await opened(request)
    return await _review_act(
        request,
        visit,
        incident_id,
        close_control(item),
        form,
        lambda: api_reviews.CloseBody(note=text(form, "note")),
        lambda made: api_reviews.close_item(
            incident_id=incident_id,
            item=item,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


async def root_cause(request: Request, incident_id: IncidentId) -> Response:
    """``POST .../postmortem/root-cause``: factors (comma-separated), the step and/or the
    policy involved, what changes."""
    visit, form = await opened(request)
    factors = factors_of(first(form, "factors"))
    if not factors:
        errors = {"factors": [FACTORS_HINT]}
        if not text(form, "changes").strip():
            errors["changes"] = ["write something here"]
        return send_back(visit, incident_id, FormFlash(CAUSE, 422, None, form, errors))
    return await _review_act(
        request,
        visit,
        incident_id,
        CAUSE,
        form,
        lambda: api_reviews.RootCauseBody(
            factors=factors,
            step=first(form, "step") or None,
            policy=first(form, "policy") or None,
            changes=text(form, "changes"),
        ),
        lambda made: api_reviews.root_cause(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


async def done(request: Request, incident_id: IncidentId) -> Response:
    """``POST .../postmortem/done``: close the review (its owner; refused while any action
    item is open, the reason listing them)."""
    visit, form = await opened(request)
    return await _review_act(
        request,
        visit,
        incident_id,
        DONE,
        form,
        lambda: api_reviews.DoneBody(note=text(form, "note").strip() or None),
        lambda made: api_reviews.done(
            incident_id=incident_id,
            body=made,
            person=visit.person,
            parts=visit.parts,
            key=key_of(form),
        ),
    )


ROUTES = (
    ("/incidents/{incident_id}/updates", post_update, ("POST",)),
    ("/incidents/{incident_id}/postmortem/items", add_item, ("POST",)),
    ("/incidents/{incident_id}/postmortem/items/{item}/close", close_item, ("POST",)),
    ("/incidents/{incident_id}/postmortem/root-cause", root_cause, ("POST",)),
    ("/incidents/{incident_id}/postmortem/done", done, ("POST",)),
)
