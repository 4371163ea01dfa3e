"""Opening an incident: choose an SOP version and region, then fill in its input form.

The input goes through the API's own route (``start_incident``): the same input check (its
JSON-pointer errors shown beside each field), the same refusal of an SOP with lint errors,
the same idempotency (the form's key: sending it twice opens one incident)."""

from __future__ import annotations

import re
from typing import Any

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
from sopflow.web.pages.incident import key_of, new_key
from sopflow.web.render import Refused
from sopflow.web.security import PREFIX
from sopflow.web.visits import Form, Visit, console_of, first

_CHOICE = re.compile(r"([a-z][a-z0-9-]{1,62})@([0-9]{1,7}):([A-Z][A-Z0-9_-]{1,15})")


def choices(result: LintResult) -> list[dict[str, str]]:
    """Every SOP version and region that may be started (it compiles, without lint errors)."""
    out = []
    for (sop, version, region), plan in sorted(result.plans.items()):
        if not result.errors_in((sop, version, region)):
            label = f"{plan.sop.title} — {sop}@{version} ({region})"
            out.append({"value": f"{sop}@{version}:{region}", "label": label})
    return out


def chosen_plan(result: LintResult, value: str) -> Plan:
    """The plan a choice names (404/409 problems as the API's catalog gives them)."""
    found = _CHOICE.fullmatch(value)
    if not found:
        raise Refused(404, "Not found", "There is no such SOP version or region.")
    return resolve_plan(result, found.group(1), int(found.group(2)), found.group(3))


async def _show(
    request: Request,
    visit: Visit,
    choice: str,
    *,
    raw: Form | None = None,
    errors: dict[str, list[str]] | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    result = await visit.parts.catalog.result()
    plan = chosen_plan(result, choice) if choice else None
    fields = fields_of(plan.input_schema, "input") if plan else ()
    context: dict[str, Any] = {
        "choices": choices(result),
        "choice": choice,
        "plan": plan,
        "controls": bind(fields, raw or {}, errors or {}),
        "summary": summary(fields, errors or {}),
        "message": message,
        "key": new_key(),
    }
    return console_of(request).page(request, visit, "start.html", status, **context)


async def start_page(request: Request) -> Response:
    """``GET /console/start?plan=sop@version:REGION``: the choice, then the input form."""
    visit = await console_of(request).visit(request)
    return await _show(request, visit, request.query_params.get("plan", ""))


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
        return await _show(request, visit, choice, raw=form, errors=errors, status=422)
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
        status = problem.kind.status
        return await _show(
            request, visit, choice, raw=form, errors=errors, message=message, status=status
        )
    console_of(request).hub.notify(started.id)
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
