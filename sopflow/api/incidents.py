"""Incidents: open one, list them, read one; and the caller's own queue (``/me``).

Every read goes through the incident service: Temporal is the record, the API keeps
nothing. An incident's input is checked against its SOP's input schema before anything is
started, and a version of an SOP with lint errors is never started, as with the CLI.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from sopflow.api.catalog import resolve_plan
from sopflow.api.context import Caller, Linted, Parts, PartsDep
from sopflow.api.idempotency import IdempotencyKey, incident_id_for
from sopflow.api.identity import Person, authorise_read, may_read
from sopflow.api.models import (
    INCIDENT_ID_PATTERN,
    REGION_PATTERN,
    SOP_ID_PATTERN,
    IncidentDetail,
    IncidentStatusName,
    IncidentSummaryOut,
    Me,
    StartedIncident,
    StartIncident,
    TaskOut,
)
from sopflow.api.problems import INVALID, REFUSED, Problem, ProblemError
from sopflow.api.temporal import temporal_problem
from sopflow.client.connection import data_task_queue
from sopflow.client.duplicates import attachment, duplicate_refusal, link_back, open_duplicates
from sopflow.client.incidents import ActionRefused, IncidentService, Refusal
from sopflow.compile.lint import LintResult
from sopflow.contract.plan import Plan
from sopflow.language.input_check import input_errors
from sopflow.language.models.step_parts import Severity

router = APIRouter(tags=["incidents"])

IncidentIdPath = Annotated[str, Path(pattern=INCIDENT_ID_PATTERN, description="The incident id")]

# Outcomes that mean the incident failed (docs/operations.md).
_FAILED = (
    "(Outcome STARTS_WITH 'step_failed:' OR Outcome STARTS_WITH 'sla_spent:'"
    " OR Outcome STARTS_WITH 'expression_error')"
)
# Each status as a visibility query, matching how sopflow.client.connection.incident_status
# reads an incident without its state.
STATUS_QUERIES: dict[IncidentStatusName, str] = {
    IncidentStatusName.running: "ExecutionStatus = 'Running'",
    IncidentStatusName.failed: (
        "(ExecutionStatus IN ('Failed', 'TimedOut') OR "
        f"(ExecutionStatus = 'Completed' AND {_FAILED}))"
    ),
    IncidentStatusName.cancelled: (
        "(ExecutionStatus = 'Canceled' OR "
        "(ExecutionStatus = 'Completed' AND Outcome = 'cancelled'))"
    ),
    IncidentStatusName.terminated: "ExecutionStatus = 'Terminated'",
    IncidentStatusName.completed: (
        "(ExecutionStatus = 'Completed' AND (Outcome IS NULL OR "
        f"(Outcome != 'cancelled' AND NOT {_FAILED})))"
    ),
}


def new_incident_id() -> str:
    """``inc-YYYYMMDD-xxxxxx``, as the CLI makes them."""
    return f"inc-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def balanced(query: str) -> bool:
    """Whether every parenthesis outside quotes closes, and every quote ends: the query is
    ANDed with others inside parentheses, and must not be able to close them."""
    depth, quote, escaped = 0, "", False
    for char in query:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quote


def _refuse_broken(result: LintResult, plan: Plan) -> None:
    if result.errors_in((plan.sop.id, plan.sop.version, plan.region.code)):
        name = f"{plan.sop.id}@{plan.sop.version} ({plan.region.code})"
        raise Problem(REFUSED, f"{name} has lint errors and is not run; `sopflow lint` shows them")


def _check_input(plan: Plan, data: dict[str, object]) -> None:
    problems = input_errors(plan.input_schema, data)
    if problems:
        errors = [ProblemError(pointer=f"/input{where}", message=why) for where, why in problems]
        name = f"{plan.sop.id}@{plan.sop.version} ({plan.region.code})"
        raise Problem(INVALID, f"the input does not fit {name}'s input schema", errors=errors)


async def _existing(service: IncidentService, incident_id: str, plan: Plan, derived: bool) -> None:
    """A start whose id is taken: a retry of the same start (same person and key, same plan)
    is answered as the first was; anything else is refused."""
    if derived and (await service.plan(incident_id)).plan_hash == plan.plan_hash:
        return
    why = (
        "this Idempotency-Key was already used to start a different incident"
        if derived
        else f"incident id {incident_id!r} is taken"
    )
    raise Problem(REFUSED, why)


@router.post("/incidents", status_code=201, summary="Open an incident")
async def start_incident(
    body: StartIncident,
    person: Caller,
    result: Linted,
    parts: PartsDep,
    response: Response,
    key: IdempotencyKey = None,
) -> StartedIncident:
    """Check the input against the SOP's input schema (422 lists every problem with its JSON
    pointer), refuse an SOP version with lint errors (409), and start the incident."""
    plan = resolve_plan(result, body.sop, body.version, body.region)
    retired = result.lock.start_refusal(plan.sop.id, plan.sop.version)
    if retired is not None:
        raise Problem(REFUSED, retired)
    _refuse_broken(result, plan)
    _check_input(plan, body.input)
    derived = body.incident_id is None and key is not None
    incident_id = body.incident_id or (
        incident_id_for(person.handle, key) if key is not None else new_incident_id()
    )
    service = parts.temporal.require()
    open_ids = await _open_duplicates(service, plan, body, person, incident_id)
    if open_ids and body.if_duplicate == "attach":
        return await _attach(service, parts, person, open_ids[0], plan, body, response)
    data_queue = None
    if parts.settings.data_routing:
        data_queue = data_task_queue(
            plan.region.data_region or plan.region.code, service.task_queue
        )
    try:
        await service.start(
            plan,
            body.input,
            opened_by=person.handle,
            incident_id=incident_id,
            data_task_queue=data_queue,
            links=open_ids,
        )
    except ActionRefused as exc:
        if exc.kind != Refusal.EXISTS:
            raise
        await _existing(service, incident_id, plan, derived)
        response.headers["Idempotent-Replayed"] = "true"
    else:
        parts.changes.changed(incident_id)
        await link_back(service, incident_id, open_ids, person.handle)
    response.headers["Location"] = f"/api/v1/incidents/{incident_id}"
    return StartedIncident(
        id=incident_id,
        sop=plan.sop.id,
        version=plan.sop.version,
        region=plan.region.code,
        title=plan.sop.title,
        plan_hash=plan.plan_hash,
        opened_by=person.handle,
        linked=open_ids,
    )


async def _open_duplicates(
    service: IncidentService, plan: Plan, body: StartIncident, person: Person, incident_id: str
) -> list[str]:
    """The open incidents about the same case (not this one: a retried start finds itself);
    a 409 naming them when the caller did not say what to do."""
    found = await open_duplicates(service, plan, body.input, person.roles)
    open_ids = [i for i in found if i != incident_id]
    if open_ids and body.if_duplicate == "refuse":
        raise Problem(REFUSED, duplicate_refusal(plan, open_ids))
    return open_ids


async def _attach(
    service: IncidentService,
    parts: Parts,
    person: Person,
    open_id: str,
    plan: Plan,
    body: StartIncident,
    response: Response,
) -> StartedIncident:
    """Attach the report to the open incident as the caller's note (200, not 201)."""
    await service.act(open_id, attachment(person.actor(), body.input))
    parts.changes.changed(open_id)
    summary = await service.summary(open_id)
    response.status_code = 200
    response.headers["Location"] = f"/api/v1/incidents/{open_id}"
    return StartedIncident(
        id=open_id,
        sop=summary.sop or plan.sop.id,
        version=summary.version or plan.sop.version,
        region=summary.region or plan.region.code,
        title=plan.sop.title,
        plan_hash=plan.plan_hash,
        opened_by=person.handle,
        attached=True,
    )


def list_query(
    *,
    sop: str | None,
    region: str | None,
    severity: Severity | None,
    status: IncidentStatusName | None,
    query: str | None,
) -> str:
    """The visibility query for the list's filters (the service adds ``SopId IS NOT NULL``)."""
    clauses = []
    if query and query.strip():
        if not balanced(query) or not all(c.isprintable() or c in "\t\n\r" for c in query):
            raise Problem(
                INVALID,
                "the query is not valid",
                errors=[
                    ProblemError(parameter="query", message="unbalanced parentheses or quotes")
                ],
            )
        clauses.append(f"({query})")
    for name, value in (("SopId", sop), ("Region", region), ("Severity", severity)):
        if value is not None:
            clauses.append(f"{name} = {_quote(value)}")
    if status is not None:
        clauses.append(STATUS_QUERIES[status])
    return " AND ".join(clauses)


@router.get("/incidents", summary="List incidents")
async def list_incidents(
    person: Caller,
    parts: PartsDep,
    sop: Annotated[str | None, Query(pattern=SOP_ID_PATTERN)] = None,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    status: IncidentStatusName | None = None,
    severity: Severity | None = None,
    query: Annotated[
        str | None,
        Query(max_length=2000, description="A Temporal visibility query, ANDed with the filters"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[IncidentSummaryOut]:
    """Incidents newest first, filtered (every filter is ANDed)."""
    visibility = list_query(sop=sop, region=region, severity=severity, status=status, query=query)
    service = parts.temporal.require()
    try:
        # Only what the caller may see (need-to-know), ANDed with their filters and query.
        found = await service.list(visibility, limit=limit, roles=person.roles)
    except Exception as exc:
        problem = temporal_problem(exc)
        if problem is None:
            raise
        if problem.kind is INVALID:  # the query: say so where a form can show it
            errors = [ProblemError(parameter="query", message=problem.detail or "invalid")]
            raise Problem(INVALID, "Temporal cannot run this query", errors=errors) from None
        raise problem from None
    return [
        IncidentSummaryOut.of(s)
        for s in found
        if (status is None or s.status == status) and may_read(person, s)
    ]


@router.get("/incidents/{incident_id}", summary="One incident")
async def get_incident(
    incident_id: IncidentIdPath, person: Caller, parts: PartsDep
) -> IncidentDetail:
    """The incident's summary, steps and timeline (steps and timeline need a worker for a
    running incident; without one, ``unavailable`` says so)."""
    service = parts.temporal.require()
    await authorise_read(person, incident_id, service)
    detail = IncidentDetail.of(await service.view(incident_id))
    visible = [i for i in detail.links if await _may_see(service, i, person.roles)]
    return detail.model_copy(update={"links": visible})


async def _may_see(service: IncidentService, incident_id: str, roles: Iterable[str]) -> bool:
    """Whether the caller may see a linked incident (need-to-know): one that is gone or not
    an incident is left out too."""
    try:
        return await service.may_see(incident_id, roles)
    except ActionRefused:
        return False


@router.get("/me", summary="Who am I", tags=["me"])
async def me(person: Caller) -> Me:
    """The caller's handle and the roles the Roster gives them now."""
    return Me(handle=person.handle, roles=list(person.roles), via=person.via)


@router.get("/me/tasks", summary="My open tasks", tags=["me"])
async def my_tasks(person: Caller, parts: PartsDep) -> list[TaskOut]:
    """Open tasks and approvals across running incidents that the caller's roles may act
    on and that the caller may see (need-to-know), soonest due first. Read from the API's
    index of open tasks, at most a second old (the caller's own actions at once)."""
    now = datetime.now(UTC)
    tasks = await parts.temporal.require().open_tasks().tasks_for(person.actor())
    return [TaskOut.of(t, now) for t in tasks]
