"""An incident's page: its summary, its graph with each step's state, its steps, its
stakeholder updates (``updates.py``) and post-mortem review (``reviews.py``) when it has
them, its timeline (paged, newest first), and the forms for exactly the actions its viewer
may take now. Read through the API's own route (``get_incident``), so the console sees what the API
would show this person, and nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from markupsafe import Markup
from starlette.responses import Response

from sopflow.api.incidents import get_incident
from sopflow.api.models import IncidentDetail
from sopflow.compile.graph_svg import to_svg
from sopflow.contract.messages import StepState
from sopflow.contract.names import LEAD_ROLE
from sopflow.contract.plan import ApprovalPlan, Plan, TaskPlan
from sopflow.language.roster import Roster, RosterError
from sopflow.web.form_errors import ErrorLink, summary
from sopflow.web.forms import Control, Field, bind, fields_of
from sopflow.web.pages import reviews, updates
from sopflow.web.pages.common import IncidentId, anchor, flash_key, for_control, new_key
from sopflow.web.security import PREFIX
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Console, Visit, console_of, is_live

PAGE_SIZE = 50
# Who may read the audit report: an auditor role when a Roster has one (the demo Roster has
# none), and the lead role.
AUDITORS = ("auditor", LEAD_ROLE)


@dataclass(frozen=True, slots=True)
class TaskForm:
    step: str
    title: str
    description: str | None
    controls: tuple[Control, ...]
    summary: list[ErrorLink]
    message: str | None
    key: str


@dataclass(frozen=True, slots=True)
class VoteForm:
    step: str
    title: str
    description: str | None
    reason: str
    errors: list[str]
    message: str | None
    voted: str | None  # "approve at 10:02 UTC" when this person's vote is in
    key: str


@dataclass(frozen=True, slots=True)
class ClaimForm:
    """Who works on an active task or approval, and the viewer's claim controls for it:
    take it (nobody else has it, and they may act on it), release it (theirs, or any as a
    lead), assign it (a lead: to one of ``people``, handle and label)."""

    step: str
    title: str
    roles: tuple[str, ...]
    holder: str | None
    mine: bool
    take: bool
    release: bool
    assign: bool
    people: tuple[tuple[str, str], ...]
    kind: str | None  # which of the three a refusal came from
    release_text: str
    assign_text: str
    assignee: str
    errors: Mapping[str, list[str]]
    message: str | None
    keys: Mapping[str, str]


def may_work_on(desk: str, roles: list[str], roster: Roster, plan: Plan) -> list[tuple[str, str]]:
    """The people a lead may assign a step to: those of ``desk`` holding one of ``roles``
    there (and, anywhere, one of the SOP's global roles among them), as handle and label."""
    anywhere = set(plan.global_roles or [])
    out = []
    for handle, p in sorted(roster.people.items()):
        if (set(p.roles_on(desk)) | (set(p.roles) & anywhere)) & set(roles):
            out.append((handle, f"{p.name} ({handle})"))
    return out


def _claim_form(
    step: TaskPlan | ApprovalPlan,
    state: StepState,
    desk: str,
    visit: Visit,
    roster: Roster | None,
    plan: Plan,
    failure: FormFlash | None,
) -> ClaimForm | None:
    holder, me = state.claimed_by, visit.person.handle
    lead = visit.holds(LEAD_ROLE)
    take = holder is None and visit.holds(*state.roles)
    release = holder is not None and (holder == me or lead)
    people: list[tuple[str, str]] = []
    if lead and roster is not None:
        people = [p for p in may_work_on(desk, state.roles, roster, plan) if p[0] != holder]
    if not (take or release or lead):
        return None
    mine = for_control(failure, f"claim:{step.id}")
    raw = mine.raw if mine else {}
    kind = (raw.get("claim") or [""])[0] or None

    def typed(name: str, of: str) -> str:
        return (raw.get(name) or [""])[0] if kind == of else ""

    return ClaimForm(
        step=step.id,
        title=step.title,
        roles=tuple(state.roles),
        holder=holder,
        mine=holder == me,
        take=take,
        release=release,
        assign=lead,
        people=tuple(people),
        kind=kind,
        release_text=typed("text", "release"),
        assign_text=typed("text", "assign"),
        assignee=typed("assignee", "assign"),
        errors=mine.errors if mine else {},
        message=mine.message if mine else None,
        keys={name: new_key() for name in ("take", "release", "assign")},
    )


def task_fields(plan: Plan, step_id: str) -> tuple[Field, ...]:
    """The fields of a task step's form."""
    step = plan.steps_by_id()[step_id]
    assert isinstance(step, TaskPlan)
    return fields_of(step.form or {}, f"task-{step_id}")


def _task_form(plan: Plan, step: TaskPlan, failure: FormFlash | None) -> TaskForm:
    fields = task_fields(plan, step.id)
    mine = for_control(failure, f"task:{step.id}")
    raw, errors = (mine.raw, mine.errors) if mine else ({}, {})
    return TaskForm(
        step=step.id,
        title=step.title,
        description=step.description,
        controls=bind(fields, raw, errors),
        summary=summary(fields, errors),
        message=mine.message if mine else None,
        key=new_key(),
    )


def _vote_form(
    step: ApprovalPlan, state: StepState, visit: Visit, failure: FormFlash | None
) -> VoteForm:
    mine = for_control(failure, f"vote:{step.id}")
    own = [v for v in state.votes if v.actor == visit.person.handle]
    voted = f"{own[-1].decision} on {own[-1].at:%Y-%m-%d %H:%M} UTC" if own else None
    return VoteForm(
        step=step.id,
        title=step.title,
        description=step.description,
        reason=(mine.raw.get("reason") or [""])[0] if mine else "",
        errors=list(mine.errors.get("reason", [])) if mine else [],
        message=mine.message if mine else None,
        voted=voted if step.distinct else None,
        key=new_key(),
    )


def actions(
    detail: IncidentDetail,
    plan: Plan,
    visit: Visit,
    failure: FormFlash | None,
    roster: Roster | None = None,
    elsewhere: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The forms for what this person may do now: who works on each active task or
    approval (take, release, assign), the active tasks their roles hold, the active
    approvals they may vote on, a note (any of the SOP's roles), cancel (lead).
    ``elsewhere``: the controls of forms shown in other sections of the page (a
    stakeholder update, the post-mortem review), whose refusals show beside them."""
    running = detail.summary.status == "running" and not detail.unavailable
    steps = plan.steps_by_id()
    tasks, votes, claims = [], [], []
    for state in detail.steps if running else []:
        step = steps.get(state.id)
        if state.status != "active":
            continue
        if isinstance(step, TaskPlan | ApprovalPlan):
            desk = state.desk or plan.region.code
            claim = _claim_form(step, state, desk, visit, roster, plan, failure)
            claims += [claim] if claim else []
        if isinstance(step, TaskPlan) and visit.holds(step.assignee):
            tasks.append(_task_form(plan, step, failure))
        elif isinstance(step, ApprovalPlan) and visit.holds(*step.approvers):
            votes.append(_vote_form(step, state, visit, failure))
    note = _simple(failure, "note", "text") if running and visit.holds(*plan.roles) else None
    cancel = _simple(failure, "cancel", "reason") if running and visit.holds(LEAD_ROLE) else None
    shown = {f"task:{t.step}" for t in tasks} | {f"vote:{v.step}" for v in votes}
    shown |= {f"claim:{c.step}" for c in claims}
    shown |= {name for name, form in (("note", note), ("cancel", cancel)) if form}
    shown |= elsewhere
    # A refusal about a form no longer shown (the step moved on, the incident closed): at the
    # top of the actions, under the form's anchor, where its redirect points.
    orphan = failure if failure and failure.message and failure.control not in shown else None
    return {
        "claims": claims,
        "tasks": tasks,
        "votes": votes,
        "note": note,
        "cancel": cancel,
        "orphan": orphan.message if orphan else None,
        "orphan_anchor": anchor(orphan.control) if orphan else None,
    }


def _simple(failure: FormFlash | None, control: str, name: str) -> dict[str, Any]:
    mine = for_control(failure, control)
    return {
        "value": (mine.raw.get(name) or [""])[0] if mine else "",
        "step": (mine.raw.get("step") or [""])[0] if mine else "",
        "errors": [*mine.errors.get(name, []), *mine.errors.get("step", [])] if mine else [],
        "message": mine.message if mine else None,
        "key": new_key(),
    }


def timeline(detail: IncidentDetail, query: Mapping[str, str]) -> dict[str, Any]:
    """The timeline newest first, filtered by kind, one page of it."""
    kinds = sorted({e.kind for e in detail.timeline})
    kind = query.get("kind") or None
    entries = [e for e in reversed(detail.timeline) if kind is None or e.kind == kind]
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    try:
        page = min(max(1, int(query.get("page", "1"))), pages)
    except ValueError:
        page = 1

    def link(number: int) -> str:
        return "?" + urlencode({"page": number} | ({"kind": kind} if kind else {})) + "#timeline"

    return {
        "entries": entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "kinds": kinds,
        "kind": kind,
        "page": page,
        "pages": pages,
        "count": len(entries),
        "previous": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < pages else None,
    }


def graph(plan: Plan, detail: IncidentDetail) -> Markup:
    """The plan's graph with each step's state, as inline SVG. ``to_svg`` escapes every text
    it draws from the SOP (titles, labels, ids) and writes only presentation attributes,
    and ``embed_style=False`` leaves out its ``<style>``: the step states are styled by the
    console's stylesheet, so the page's CSP holds. That is why it may be marked safe."""
    states = tuple(sorted((s.id, s.status) for s in detail.steps))
    key = (plan.plan_hash, states)
    svg = _graphs.get(key) if plan.plan_hash else None
    if svg is None:
        svg = to_svg(plan, states=dict(states), embed_style=False)
        if plan.plan_hash:
            if len(_graphs) >= GRAPH_CACHE_SIZE:
                del _graphs[next(iter(_graphs))]
            _graphs[key] = svg
    return Markup(svg)  # noqa: S704


# Laying out a graph is most of an incident page's work, and incidents of one plan pass
# through few combinations of step states: the SVG is kept per plan and states.
GRAPH_CACHE_SIZE = 512
_graphs: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}


def live_url(request: Request, incident_id: str) -> str:
    """What live.js fetches again: the page, with the timeline's page and kind."""
    query = {k: v for k, v in request.query_params.items() if k in ("page", "kind")}
    return f"{PREFIX}/incidents/{incident_id}" + (f"?{urlencode(query)}" if query else "")


async def page(console: Console, request: Request, visit: Visit, incident_id: str) -> Response:
    """The incident's page. A form refused just before (its POST redirected here) shows once,
    with why, what was typed and the status the API answered; a second load shows none."""
    # The API's read first: its need-to-know check (a 404 for an incident this person may
    # not see) comes before anything kept for this page is taken, let alone shown.
    detail = await get_incident(incident_id=incident_id, person=visit.person, parts=visit.parts)
    plan = await visit.parts.temporal.require().plan(incident_id, plan_hash=detail.plan_hash)
    # A live update's fetch (live.js) leaves the refused form for the page it was meant for.
    failure = None if is_live(request) else visit.session.take_form(flash_key(incident_id))
    by_id = {s.id: s for s in detail.steps}
    update_section = updates.section(visit, detail, plan, failure)
    review = await reviews.section(visit, detail, plan, failure)
    elsewhere = frozenset(
        ({updates.CONTROL} if update_section and update_section.form else set())
        | (review.controls() if review else set())
    )
    return console.page(
        request,
        visit,
        "incident.html",
        failure.status if failure else 200,
        incident=detail,
        plan=plan,
        steps=[(step, by_id.get(step.id)) for step in plan.steps_by_id().values()],
        graph=graph(plan, detail),
        timeline=timeline(detail, request.query_params),
        now=datetime.now(UTC),
        may_audit=visit.holds(*AUDITORS),
        base=f"{PREFIX}/incidents/{incident_id}",
        live_url=live_url(request, incident_id),
        updates=update_section,
        review=review,
        **actions(detail, plan, visit, failure, await _roster(visit, detail), elsewhere),
    )


async def _roster(visit: Visit, detail: IncidentDetail) -> Roster | None:
    """The Roster, for a lead's "Assign to" choices (None otherwise, or when unreadable:
    the form then offers nobody, and says so)."""
    if not visit.holds(LEAD_ROLE) or detail.summary.status != "running":
        return None
    try:
        return await visit.parts.identity.roster.current()
    except RosterError:
        return None


async def incident_page(request: Request, incident_id: IncidentId) -> Response:
    """``GET /console/incidents/{id}?page=&kind=``."""
    console = console_of(request)
    visit = await console.visit(request)
    return await page(console, request, visit, incident_id)


ROUTES = (("/incidents/{incident_id}", incident_page, ("GET",)),)
