"""Opening an incident: choose an SOP version and region, then fill in its input form.

The input goes through the API's own route (``start_incident``): the same input check (its
JSON-pointer errors shown beside each field), the same refusal of an SOP with lint errors,
the same idempotency (the form's key: sending it twice opens one incident).

A refused input redirects back to the form (``/console/start?plan=...#input``), and that
GET shows, once, the problems beside each field and what was typed: a reload then never
sends the form again (Post/Redirect/Get)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from sopflow.api.catalog import resolve_plan
from sopflow.api.incidents import start_incident
from sopflow.api.models import StartedIncident, StartIncident
from sopflow.api.problems import INVALID, Problem
from sopflow.compile.lint import LintResult
from sopflow.contract.plan import Plan
from sopflow.language.input_check import input_errors
from sopflow.web.form_data import parse
from sopflow.web.form_errors import merge, pointer_errors, summary
from sopflow.web.forms import bind, fields_of
from sopflow.web.pages.common import key_of, new_key
from sopflow.web.render import Refused
from sopflow.web.security import PREFIX
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Visit, console_of, first, is_live

_CHOICE = re.compile(r"([a-z][a-z0-9-]{1,62})@([0-9]{1,7}):([A-Z][A-Z0-9_-]{1,15})")
# Where a refused input form waits in the session (its ``control`` is the chosen plan).
FLASH_KEY = "start"


def choices(result: LintResult) -> list[dict[str, str]]:
    """Every SOP version and region that may be started (it compiles, without lint errors,
    and is not retired)."""
    out = []
    for (sop, version, region), plan in sorted(result.plans.items()):
        retired = result.lock.retirement(sop, version) is not None
        if not retired and not result.errors_in((sop, version, region)):
            label = f"{plan.sop.title} — {sop}@{version} ({region})"
            out.append({"value": f"{sop}@{version}:{region}", "label": label})
    return out


def chosen_plan(result: LintResult, value: str) -> Plan:
    """The plan a choice names (404/409 problems as the API's catalog gives them)."""
    found = _CHOICE.fullmatch(value)
    if not found:
        raise Refused(404, "Not found", "There is no such SOP version or region.")
    return resolve_plan(result, found.group(1), int(found.group(2)), found.group(3))


async def _show(request: Request, visit: Visit, choice: str, failure: FormFlash | None) -> Response:
    """The page; with ``failure`` (for this choice), its problems and what was typed."""
    result = await visit.parts.catalog.result()
    plan = chosen_plan(result, choice) if choice else None
    fields = fields_of(plan.input_schema, "input") if plan else ()
    raw, errors = (failure.raw, failure.errors) if failure else ({}, {})
    context: dict[str, Any] = {
        "choices": choices(result),
        "choice": choice,
        "plan": plan,
        "controls": bind(fields, raw, errors),
        "summary": summary(fields, errors),
        "message": failure.message if failure else None,
        "key": new_key(),
    }
    status = failure.status if failure else 200
    return console_of(request).page(request, visit, "start.html", status, **context)


async def start_page(request: Request) -> Response:
    """``GET /console/start?plan=sop@version:REGION``: the choice, then the input form (with
    the problems of the one just refused, once)."""
    visit = await console_of(request).visit(request)
    choice = request.query_params.get("plan", "")
    kept = None if is_live(request) else visit.session.take_form(FLASH_KEY)
    return await _show(request, visit, choice, kept if kept and kept.control == choice else None)


def _refused(visit: Visit, choice: str, failure: FormFlash) -> Response:
    """Keep the refused input for the form's next GET, and send the browser there (a 303:
    a reload loads the form again and sends nothing)."""
    visit.session.keep_form(FLASH_KEY, failure)
    where = f"{PREFIX}/start?{urlencode({'plan': choice})}#input"
    return RedirectResponse(where, status_code=303)


async def start(request: Request) -> Response:
    """``POST /console/start``: open the incident; its page, or the form with its problems."""
    console = console_of(request)
    visit = await console.visit(request)
    form = await console.form(request, visit.session)
    choice = first(form, "plan")
    result = await visit.parts.catalog.result()
    plan = chosen_plan(result, choice)
    fields = fields_of(plan.input_schema, "input")
    parsed = parse(fields, form)
    if parsed.problems:  # some text cannot be read: say so with the rest of the check
        checked = pointer_errors(fields, input_errors(plan.input_schema, parsed.data))
        errors = merge(
            parsed.problems, {k: v for k, v in checked.items() if k not in parsed.problems}
        )
        return _refused(visit, choice, FormFlash(choice, 422, None, form, errors))
    try:
        started = await _start(visit, result, plan, parsed.data, key_of(form))
    except Problem as problem:
        if problem.kind.status not in (403, 409, 422):
            raise
        pointers = [
            (e.pointer.removeprefix("/input"), e.message)
            for e in problem.errors or []
            if e.pointer is not None
        ]
        errors = pointer_errors(fields, pointers)
        message = None if errors else str(problem)  # else the summary says it all
        failure = FormFlash(choice, problem.kind.status, message, form, errors)
        return _refused(visit, choice, failure)
    visit.session.flash = f"Opened {started.id}: {started.title} ({started.region})."
    return RedirectResponse(f"{PREFIX}/incidents/{started.id}", status_code=303)


async def _start(
    visit: Visit, result: LintResult, plan: Plan, data: dict[str, Any], key: str | None
) -> StartedIncident:
    """Through the API's route: its input check, its refusals, its idempotency."""
    try:
        body = StartIncident(
            sop=plan.sop.id, version=plan.sop.version, region=plan.region.code, input=data
        )
    except ValidationError as exc:
        raise Problem(INVALID, str(exc)) from None
    return await start_incident(
        body=body,
        person=visit.person,
        result=result,
        parts=visit.parts,
        response=Response(),
        key=key,
    )


ROUTES = (("/start", start_page, ("GET",)), ("/start", start, ("POST",)))
