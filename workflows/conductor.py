"""The conductor: what happens next in an incident, decided without executing anything.

Pure functions over the plan and the incident state: evaluate conditions, pick a triage rule
or a decision branch, route an outcome to the next step, check a responder's action. The
Temporal glue (``workflows.incident``) executes what these decide; keeping them apart means
every rule here is unit-tested without a server, and nothing here can touch the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_never

from sopflow.contract.expressions import ENRICHMENT, evaluate, render_template
from sopflow.contract.messages import Actor, IncidentState, Note, VoteRecord
from sopflow.contract.names import LEAD_ROLE
from sopflow.contract.plan import (
    ApprovalPlan,
    DecisionPlan,
    DisclosureCheckPlan,
    EndPlan,
    NotifyPlan,
    OpenIncidentPlan,
    ParallelPlan,
    PlanStep,
    PostmortemPlan,
    TaskPlan,
    TriagePlan,
    WaitPlan,
)
from sopflow.contract.quorum import max_matching, places
from workflows.form_check import form_errors


class ExpressionFailed(Exception):
    """An SOP expression could not be evaluated on this incident's data."""

    def __init__(self, step: str, source: str, error: Exception) -> None:
        super().__init__(f"step {step}: cannot evaluate {source!r}: {error}")
        self.step = step


class ActionRefused(Exception):
    """A responder action that the incident does not accept, with the reason for the caller
    and its cause: ``forbidden`` (the person lacks the role), ``invalid`` (the form fails
    the step's schema), ``unverified`` (no valid signature) or ``conflict`` (the incident's
    state does not allow it now: step not active, second vote, four eyes, closed)."""

    def __init__(self, reason: str, cause: str = "conflict") -> None:
        super().__init__(reason)
        self.cause = cause


def context(state: IncidentState, incident_input: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The names an SOP expression sees: input, steps, incident, now (docs/authoring.md)."""
    return {
        "input": incident_input,
        "steps": {
            sid: {"status": s.status, "output": {} if s.output is None else s.output}
            for sid, s in state.steps.items()
        },
        "incident": {
            "id": state.incident_id,
            "sop": state.sop,
            "version": state.version,
            "region": state.region,
            "severity": state.severity or "",
            "labels": list(state.labels),
            "opened_at": state.opened_at,
            "sla_breached": state.sla_breached,
        },
        "now": now,
    }


def check(step: str, source: str, variables: dict[str, Any]) -> Any:
    """Evaluate ``source``; any failure becomes ExpressionFailed naming the step."""
    try:
        return evaluate(source, variables)
    except Exception as exc:  # the CEL engine raises several types; all mean the same here
        raise ExpressionFailed(step, source, exc) from exc


def holds(step: str, source: str | None, variables: dict[str, Any]) -> bool:
    """A condition; absent means true. A non-boolean result is an error, not truthiness."""
    if source is None:
        return True
    value = check(step, source, variables)
    if not isinstance(value, bool):
        raise ExpressionFailed(step, source, TypeError(f"gave {value!r}, not true or false"))
    return value


def render(step: str, template: str, variables: dict[str, Any]) -> str:
    try:
        return render_template(template, variables)
    except Exception as exc:
        raise ExpressionFailed(step, template, exc) from exc


def triage(
    step: TriagePlan, variables: dict[str, Any], enrichment: dict[str, Any] | None = None
) -> tuple[str, list[str], int]:
    """(severity, labels, index of the rule) of the first rule that matches. The rules also
    see ``enrichment``: what the step's enrichers returned, by enrichment name."""
    seen = {**variables, ENRICHMENT: enrichment or {}}
    for index, rule in enumerate(step.rules):
        if holds(step.id, rule.when, seen):
            return rule.severity, list(rule.labels), index
    raise ExpressionFailed(step.id, "rules", ValueError("no rule matched"))


def decide(step: DecisionPlan, variables: dict[str, Any]) -> str | None:
    """The target of the first matching branch (None: the end of the list)."""
    for branch in step.branches:
        if holds(step.id, branch.when, variables):
            return branch.goto
    raise ExpressionFailed(step.id, "branches", ValueError("no branch matched"))


def route(step: PlanStep, outcome: str | None) -> str | None:
    """The step after ``step`` finished with ``outcome``: its `on` mapping, else `next`."""
    if outcome is not None and outcome in step.on:
        return step.on[outcome]
    return step.next


# --- Responder actions: every refusal names its reason.


def _active(state: IncidentState, step_id: str, kind: str) -> None:
    if state.status != "running":
        raise ActionRefused(f"the incident is {state.status}")
    found = state.steps.get(step_id)
    if found is None:
        raise ActionRefused(f"this incident has no step {step_id!r}")
    if found.type != kind:
        raise ActionRefused(f"step {step_id!r} is a {found.type}, not a {kind}")
    if found.status != "active":
        raise ActionRefused(f"step {step_id!r} is {found.status}, not active")
    if found.routing:
        raise ActionRefused(
            f"step {step_id!r} is being given to the desk on shift; try again in a moment"
        )


def on_desk(
    state: IncidentState,
    actor: Actor,
    step: str | None,
    global_roles: list[str] | None,
    *,
    desk: str | None = None,
) -> Actor:
    """``actor`` with the roles they may use here: on ``desk`` when given (a stakeholder
    update asked of the desk on shift), else on the desk that holds ``step`` (a step that
    followed the sun), else the incident's region's. Their own desk's people use all their
    roles; others, the roles the Roster gives them on this desk (`desks`) and those the
    SOP's ``global_roles`` lets act from anywhere. An actor naming no region (before desks)
    keeps every role."""
    held = state.steps[step].desk if step is not None and step in state.steps else None
    desk = desk or held or state.region
    if actor.region is None or actor.region == desk:
        return actor
    here = set((actor.desks or {}).get(desk, []))
    here |= {r for r in actor.roles if r in (global_roles or [])}
    return actor.model_copy(update={"roles": sorted(here)})


def check_desk(
    state: IncidentState,
    actor: Actor,
    roles: list[str],
    global_roles: list[str] | None,
    step: str | None = None,
    *,
    desk: str | None = None,
    what: str = "this",
) -> Actor:
    """The actor as they act here (``on_desk``, with its ``desk`` override), or
    ActionRefused when their roles of ``roles`` (those the action may use) are held on
    another desk only. One holding none of ``roles`` anywhere is left to the role check,
    whose reason fits better. ``what`` names what the override's desk is asked for."""
    here = on_desk(state, actor, step, global_roles, desk=desk)
    everywhere = {*actor.roles, *(r for rs in (actor.desks or {}).values() for r in rs)}
    if set(roles) & set(here.roles) or not set(roles) & everywhere:
        return here
    held = state.steps[step].desk if step is not None and step in state.steps else None
    across = f" (roles that act from any desk: {', '.join(global_roles)})" if global_roles else ""
    if desk is not None:
        where = f"{what} is asked of the {desk} desk"
    elif held and held != state.region:
        where = f"this step of a {state.region} incident is with the {held} desk now"
    else:
        where = f"this is a {state.region} incident, acted on by the {state.region} desk"
    message = f"{actor.id} works on the {actor.region} desk; {where}{across}"
    raise ActionRefused(message, "forbidden")


def check_completion(
    state: IncidentState, step: TaskPlan, actor: Actor, data: dict[str, Any]
) -> None:
    _active(state, step.id, "task")
    # Two completions can reach one workflow task together: the second's validator runs
    # before the workflow has moved past the first, so the step still looks active. Without
    # this, the second would be accepted too and overwrite the first's answers.
    if (done_by := state.steps[step.id].submitted_by) is not None:
        raise ActionRefused(f"{step.id!r} was just completed by {done_by}")
    if step.assignee not in actor.roles:
        raise ActionRefused(
            f"{actor.id} does not hold role {step.assignee!r}, which {step.id!r} needs",
            "forbidden",
        )
    problems = form_errors(step.form, data)
    if problems:
        raise ActionRefused("the form is not valid: " + "; ".join(problems), "invalid")


def four_eyes_excluded(state: IncidentState) -> set[str]:
    """Who may not approve: whoever opened the incident or submitted any of its work."""
    excluded = {state.opened_by}
    excluded |= {s.submitted_by for s in state.steps.values() if s.submitted_by}
    return excluded


def check_vote(
    state: IncidentState, step: ApprovalPlan, actor: Actor, decision: str = "approve"
) -> None:
    _active(state, step.id, "approval")
    # As for tasks: a vote arriving with the one that decided the step would otherwise be
    # recorded after the decision (and a late rejection would overturn a reached quorum).
    if (decided := tally(step, state)) is not None:
        raise ActionRefused(f"the vote on {step.id!r} is already decided: {decided}")
    if not set(step.approvers) & set(actor.roles):
        needs = " or ".join(step.approvers)
        raise ActionRefused(
            f"{actor.id} holds none of the roles that approve {step.id!r} ({needs})",
            "forbidden",
        )
    votes = state.steps[step.id].votes
    if step.distinct and any(v.actor == actor.id for v in votes):
        raise ActionRefused(f"{actor.id} has already voted on {step.id!r}")
    if step.four_eyes and actor.id in four_eyes_excluded(state):
        raise ActionRefused(
            f"four eyes: {actor.id} opened this incident or submitted its work, so cannot approve"
        )
    if step.requires is not None and decision == "approve":
        _check_fills_a_place(step, votes, actor)


def _approvals(votes: list[VoteRecord]) -> list[list[str]]:
    return [list(v.roles or []) for v in votes if v.decision == "approve"]


def _check_fills_a_place(step: ApprovalPlan, votes: list[VoteRecord], actor: Actor) -> None:
    """Per-role quorum: an approval that fills no open place is refused, saying what the
    step still needs (two leads never make counsel + a lead)."""
    open_to, approvals = places(step.requires or []), _approvals(votes)
    if max_matching(open_to, [*approvals, list(actor.roles)]) > max_matching(open_to, approvals):
        return
    held = [r.role for r in step.requires or [] if r.role in actor.roles]
    need = " + ".join(f"{r.count} {r.role}" for r in step.requires or [])
    raise ActionRefused(
        f"{actor.id}'s approval fills no open place on {step.id!r}, which needs {need} "
        f"(distinct people): the places for {' and '.join(held)} are already filled",
        "forbidden",
    )


def tally(step: ApprovalPlan, state: IncidentState) -> str | None:
    """`rejected` on any rejection, `approved` at quorum (with `requires`, every place
    filled by distinct people of its role), else None (still voting)."""
    votes = state.steps[step.id].votes
    if any(v.decision == "reject" for v in votes):
        return "rejected"
    if step.requires is not None:
        open_to = places(step.requires or [])
        return "approved" if max_matching(open_to, _approvals(votes)) >= len(open_to) else None
    if sum(v.decision == "approve" for v in votes) >= step.quorum:
        return "approved"
    return None


def check_note(state: IncidentState, actor: Actor, roles: list[str]) -> None:
    if not set(actor.roles) & set(roles):
        raise ActionRefused(
            f"{actor.id} holds none of this SOP's roles ({', '.join(roles)})", "forbidden"
        )


def check_claim(state: IncidentState, step: PlanStep | None, actor: Actor, note: Note) -> None:
    """A claim is on an active task or approval: anyone who may act on it takes it; the
    holder (or a lead) releases it; a lead assigns it to someone by handle."""
    if not isinstance(step, TaskPlan | ApprovalPlan):
        raise ActionRefused("only a task or an approval is claimed")
    _active(state, step.id, step.type)
    holder, lead = state.steps[step.id].claimed_by, LEAD_ROLE in actor.roles
    roles = state.steps[step.id].roles
    if note.claim == "take" and not set(roles) & set(actor.roles):
        why = f"{actor.id} holds none of the roles {step.id!r} needs ({', '.join(roles)})"
        raise ActionRefused(why, "forbidden")
    if note.claim == "take" and holder not in (None, actor.id):
        raise ActionRefused(f"{step.id!r} is with {holder}: ask them, or a lead to assign it")
    if note.claim == "release" and holder is None:
        raise ActionRefused(f"nobody has claimed {step.id!r}")
    if note.claim == "release" and holder != actor.id and not lead:
        why = f"{step.id!r} is with {holder}: only they or a lead release it"
        raise ActionRefused(why, "forbidden")
    if note.claim == "assign" and not lead:
        raise ActionRefused(f"only the {LEAD_ROLE!r} role assigns work", "forbidden")
    if note.claim == "assign" and not note.assignee:
        raise ActionRefused("say who to assign it to", "invalid")


def check_severity(state: IncidentState, actor: Actor, note: Note) -> None:
    """A lead sets the severity, up or down, with a reason (the note's text); never with a
    claim in the same note, and never to what it already is."""
    if state.status != "running":
        raise ActionRefused(f"the incident is {state.status}")
    if LEAD_ROLE not in actor.roles:
        raise ActionRefused(f"only the {LEAD_ROLE!r} role sets the severity", "forbidden")
    if note.claim is not None:
        raise ActionRefused("set the severity and claim work in two actions", "invalid")
    if note.severity == state.severity:
        raise ActionRefused(f"the severity is already {note.severity}")


def check_cancel(state: IncidentState, actor: Actor) -> None:
    if state.status != "running":
        raise ActionRefused(f"the incident is already {state.status}")
    if LEAD_ROLE not in actor.roles:
        raise ActionRefused(f"only the {LEAD_ROLE!r} role can cancel an incident", "forbidden")


def pending_roles(plan_steps: dict[str, PlanStep], state: IncidentState) -> list[str]:
    """Roles that active human steps are waiting on, sorted (no set iteration: determinism)."""
    roles: list[str] = []
    for sid, s in state.steps.items():
        step = plan_steps.get(sid)
        if s.status != "active" or step is None:
            continue
        roles += _waiting_roles(step)
    return sorted(dict.fromkeys(roles))


def _waiting_roles(step: PlanStep) -> list[str]:
    """The roles an active ``step`` waits on: none, unless people must act."""
    match step:
        case TaskPlan():
            return [step.assignee]
        case ApprovalPlan():
            return list(step.approvers)
        case (
            TriagePlan()
            | DecisionPlan()
            | DisclosureCheckPlan()
            | NotifyPlan()
            | WaitPlan()
            | ParallelPlan()
            | PostmortemPlan()
            | OpenIncidentPlan()
            | EndPlan()
        ):
            return []
        case _:
            assert_never(step)


def waits_on_someone(step: PlanStep) -> bool:
    """Whether an active ``step`` waits on someone: people, or an external event. These are
    the steps ActiveSteps lists; a timed wait waits on no one, so it is not published (it
    would cost an event and tell no responder)."""
    match step:
        case TaskPlan() | ApprovalPlan():
            return True
        case WaitPlan():
            return step.event is not None
        case (
            TriagePlan()
            | DecisionPlan()
            | DisclosureCheckPlan()
            | NotifyPlan()
            | ParallelPlan()
            | PostmortemPlan()
            | OpenIncidentPlan()
            | EndPlan()
        ):
            return False
        case _:
            assert_never(step)
