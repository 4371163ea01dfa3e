"""The inbox: the tasks and approvals the person may act on now, soonest due first; their
graphic-content steps this shift (and, for a lead, their desk's people's); and stepping
away, which gives back everything they have taken (``POST /console/away``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from sopflow.api import actions as api
from sopflow.api.models import AwayBody, TaskOut
from sopflow.api.problems import Problem
from sopflow.client.views import OpenTask
from sopflow.web.pages.actions import field_errors
from sopflow.web.security import PREFIX
from sopflow.web.sessions import FormFlash
from sopflow.web.shift import read_shift
from sopflow.web.visits import Visit, console_of, is_live, text

FILTERS = ("sop", "severity", "region")
# Rows a page shows, soonest due first: past a few hundred a queue is worked by filtering,
# and a page of thousands of rows is slow to send, render and read with a screen reader.
MAX_ROWS = 200
# Where a refused step-away form waits in the session, and its part of the page.
FLASH_KEY = "inbox"
AWAY = "away"


def _choices(tasks: list[OpenTask], name: str, chosen: str | None) -> list[str]:
    values = {str(getattr(t, name)) for t in tasks if getattr(t, name) is not None}
    return sorted(values | ({chosen} if chosen else set()))


def _fits(task: OpenTask, chosen: dict[str, str | None]) -> bool:
    return all(value is None or str(getattr(task, name)) == value for name, value in chosen.items())


async def inbox(request: Request) -> Response:
    """``GET /console/``: the person's queue, filtered by SOP, severity and region."""
    console = console_of(request)
    visit = await console.visit(request)
    now = datetime.now(UTC)
    # What the API's /me/tasks reads (the same tasks, the same order), made into rows only
    # for the tasks shown.
    tasks = await visit.parts.temporal.require().open_tasks().tasks_for(visit.person.actor())
    chosen = {name: request.query_params.get(name) or None for name in FILTERS}
    fitting = [t for t in tasks if _fits(t, chosen)]
    handle = visit.person.handle
    shift = await console.shifts.get(handle, lambda: read_shift(visit.parts, handle, now))
    failure = None if is_live(request) else visit.session.take_form(FLASH_KEY)
    return console.page(
        request,
        visit,
        "inbox.html",
        failure.status if failure else 200,
        shift=shift,
        away=_away_form(failure),
        tasks=[TaskOut.of(t, now) for t in fitting[:MAX_ROWS]],
        fitting=len(fitting),
        total=len(tasks),
        now=now,
        chosen=chosen,
        choices={name: _choices(tasks, name, chosen[name]) for name in FILTERS},
        live_url=f"{PREFIX}/" + (f"?{request.url.query}" if request.url.query else ""),
    )


def _away_form(failure: FormFlash | None) -> dict[str, object]:
    mine = failure if failure is not None and failure.control == AWAY else None
    return {
        "value": (mine.raw.get("text") or [""])[0] if mine else "",
        "errors": list(mine.errors.get("text", [])) if mine else [],
        "message": mine.message if mine else None,
    }


def _refused(visit: Visit, failure: FormFlash) -> Response:
    visit.session.keep_form(FLASH_KEY, failure)
    return RedirectResponse(f"{PREFIX}/#form-away", status_code=303)


def released(count: int) -> str:
    """What the inbox says after stepping away."""
    if count == 0:
        return "You had taken nothing: nothing went back to a queue."
    if count == 1:
        return "1 task went back to its desk's queue."
    return f"{count} tasks went back to their desks' queues."


async def away(request: Request) -> Response:
    """``POST /console/away``: step away. Everything the person has taken goes back to its
    desk's queue with their note (the API's ``POST /me/away``)."""
    console = console_of(request)
    visit = await console.visit(request)
    form = await console.form(request, visit.session)
    try:
        body = AwayBody(text=text(form, "text"))
    except ValidationError as exc:
        return _refused(visit, FormFlash(AWAY, 422, None, form, field_errors(exc)))
    try:
        out = await api.step_away_route(body=body, person=visit.person, parts=visit.parts)
    except Problem as problem:
        if problem.kind.status not in (403, 404, 409, 422):
            raise
        return _refused(visit, FormFlash(AWAY, problem.kind.status, str(problem), form))
    visit.session.flash = released(len(out.released))
    return RedirectResponse(f"{PREFIX}/", status_code=303)


ROUTES = (("/", inbox, ("GET",)), ("/away", away, ("POST",)))
