"""Task commands: a responder's queue, and the actions people take on incidents.

Every action (complete, approve, reject, note, and ``incident cancel``) is a Workflow
Update carrying the actor: the handle given with ``--as`` and the roles the Roster gives it.
The workflow's validator refuses a wrong person, a step that is not active, a form that does
not fit, a second vote or a four-eyes violation before anything reaches the history; the
command then prints ``refused: <reason>`` and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import (
    JsonOpt,
    console,
    incident_handle,
    iso,
    json_object,
    plural,
    read_state,
    run,
    table,
    to_second,
)
from sopflow.contract import search
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    ExternalEvent,
    IncidentInput,
    IncidentState,
    Note,
    Vote,
)
from sopflow.contract.names import (
    SIGNAL_EVENT,
    UPDATE_CANCEL,
    UPDATE_COMPLETE,
    UPDATE_NOTE,
    UPDATE_VOTE,
)
from sopflow.contract.plan import ApprovalPlan, Plan, TaskPlan
from sopflow.language.library import default_definitions
from sopflow.language.roster import RosterError, load_roster

ACTION_TIMEOUT_S = 30.0
RETRY_HELP = (
    "Makes a retry safe. The action is sent as a Workflow Update whose id is derived from "
    "this UUID (a new one when not given); run the same command again with the same "
    "--request-id and Temporal applies it at most once."
)
RequestIdOpt = typer.Option(None, "--request-id", metavar="UUID", help=RETRY_HELP)
AsOpt = typer.Option(
    None, "--as", envvar="SOPFLOW_USER", help="Who acts: a Roster handle (default $SOPFLOW_USER)."
)


def actor_for(user: str | None, definitions: Path | None) -> Actor:
    """The acting person with their Roster roles, or exit 1 (unknown person, no Roster)."""
    if not user:
        raise fail("say who is acting: --as USER (or set $SOPFLOW_USER)")
    try:
        return load_roster(definitions or default_definitions()).actor(user)
    except RosterError as exc:
        raise fail(str(exc)) from None


def request_id(value: str | None) -> str:
    """The request's UUID: the one given, normalised, or a new one."""
    if value is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a UUID", param_hint="--request-id") from None


def refused(reason: str) -> typer.Exit:
    print(f"refused: {reason}", file=sys.stderr)
    return typer.Exit(1)


async def act(
    client: Client, incident_id: str, update: str, arg: BaseModel, step: str | None, rid: str
) -> ActionResult:
    """Send one responder action; exit 1 with the workflow's reason when it is refused."""
    handle, desc = await incident_handle(client, incident_id)
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise refused(f"incident {incident_id} is closed")
    update_id = f"{update}:{step or '-'}:{rid}"
    call = handle.execute_update(update, arg, id=update_id, result_type=ActionResult)
    try:
        result: ActionResult = await asyncio.wait_for(call, ACTION_TIMEOUT_S)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        reason = cause.message if isinstance(cause, ApplicationError | FailureError) else exc
        raise refused(str(reason)) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise fail(
            f"incident {incident_id} did not answer in {ACTION_TIMEOUT_S:.0f}s (is a worker "
            f"running?); to retry, run the same command with --request-id {rid}: Temporal "
            "applies it at most once"
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise refused(f"incident {incident_id} is closed") from None
        raise
    return result


def _act(incident_id: str, update: str, arg: BaseModel, step: str | None, rid: str) -> None:
    result = run(lambda client: act(client, incident_id, update, arg, step, rid))
    where = f" {result.step}" if result.step else ""
    print(f"{incident_id}{where}: {result.detail}")


# --- actions


def complete(
    incident_id: str = typer.Argument(..., metavar="ID"),
    step: str = typer.Argument(..., metavar="STEP"),
    as_: str | None = AsOpt,
    data: str = typer.Option(..., "--data", help="The step's form: JSON, @FILE or - (stdin)."),
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Complete an active task with its form data."""
    actor, form = actor_for(as_, definitions), json_object(data, "--data")
    req = CompleteTask(step=step, actor=actor, data=form)
    _act(incident_id, UPDATE_COMPLETE, req, step, request_id(request))


def _vote(
    decision: Literal["approve", "reject"],
    incident_id: str,
    step: str,
    as_: str | None,
    reason: str,
    request: str | None,
    definitions: Path | None,
) -> None:
    actor = actor_for(as_, definitions)
    if not reason.strip():
        raise fail("--reason must say why")
    req = Vote(step=step, actor=actor, decision=decision, reason=reason)
    _act(incident_id, UPDATE_VOTE, req, step, request_id(request))


ReasonOpt = typer.Option(..., "--reason", help="Why: recorded on the incident's timeline.")


def approve(
    incident_id: str = typer.Argument(..., metavar="ID"),
    step: str = typer.Argument(..., metavar="STEP"),
    as_: str | None = AsOpt,
    reason: str = ReasonOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Approve an active approval step."""
    _vote("approve", incident_id, step, as_, reason, request, definitions)


def reject(
    incident_id: str = typer.Argument(..., metavar="ID"),
    step: str = typer.Argument(..., metavar="STEP"),
    as_: str | None = AsOpt,
    reason: str = ReasonOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Reject an active approval step (one rejection decides it)."""
    _vote("reject", incident_id, step, as_, reason, request, definitions)


def note(
    incident_id: str = typer.Argument(..., metavar="ID"),
    step: str | None = typer.Argument(None, help="The step the note is about, if any."),
    as_: str | None = AsOpt,
    text: str = typer.Option(..., "--text", help="The note."),
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Add a note to the incident's timeline (anyone holding one of the SOP's roles)."""
    if not text.strip():
        raise fail("--text is empty")
    req = Note(actor=actor_for(as_, definitions), text=text, step=step)
    _act(incident_id, UPDATE_NOTE, req, step, request_id(request))


def cancel(
    incident_id: str = typer.Argument(..., metavar="ID"),
    as_: str | None = AsOpt,
    reason: str = ReasonOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Cancel a running incident (the 'lead' role only), with the reason."""
    if not reason.strip():
        raise fail("--reason must say why")
    req = Cancel(actor=actor_for(as_, definitions), reason=reason)
    _act(incident_id, UPDATE_CANCEL, req, None, request_id(request))


def signal(
    incident_id: str = typer.Argument(..., metavar="ID"),
    event: str = typer.Argument(..., help="The event's name, as a `wait: {event: ...}` names it."),
    data: str = typer.Option("{}", "--data", help="Event data: JSON, @FILE or - (stdin)."),
) -> None:
    """Send an external event to an incident (a signal: it is never refused, and is kept
    until a `wait` step for that event consumes it)."""
    payload = ExternalEvent(name=event, data=json_object(data, "--data"))

    async def go(client: Client) -> None:
        handle, desc = await incident_handle(client, incident_id)
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise refused(f"incident {incident_id} is closed")
        await handle.signal(SIGNAL_EVENT, payload)

    run(go)
    print(f"sent {event!r} to {incident_id}")


# --- the queue


async def _plan_of(client: Client, wf: WorkflowExecution) -> Plan:
    """The plan the incident runs: it travels in the workflow's input (its first event)."""
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
    async for event in handle.fetch_history_events(page_size=1):
        payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
        [inp] = await client.data_converter.decode(payloads, [IncidentInput])
        assert isinstance(inp, IncidentInput)
        return inp.plan
    raise fail(f"incident {wf.id} has no history")


async def _tasks_of(
    client: Client, wf: WorkflowExecution, roles: list[str] | None
) -> list[dict[str, Any]]:
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=IncidentState)
    plan, state = await asyncio.gather(_plan_of(client, wf), read_state(handle, wf))
    steps = plan.steps_by_id()
    if state is not None:
        active = [(sid, s.due_at) for sid, s in state.steps.items() if s.status == "active"]
    else:  # no worker answered: the steps waiting on people, as visibility has them
        active = [(sid, None) for sid in wf.typed_search_attributes.get(search.ACTIVE_STEPS) or []]
    now, rows = datetime.now(UTC), []
    for sid, due in active:
        step = steps.get(sid)
        if isinstance(step, TaskPlan):
            holders = [step.assignee]
        elif isinstance(step, ApprovalPlan):
            holders = list(step.approvers)
        else:
            continue  # automated steps, and waits for events
        matching = [r for r in holders if roles is None or r in roles]
        if matching:
            rows.append(
                {
                    "incident": wf.id,
                    "sop": f"{plan.sop.id}@{plan.sop.version}",
                    "region": plan.region.code,
                    "step": sid,
                    "title": step.title,
                    "type": step.type,
                    "role": "|".join(matching),
                    "due_at": iso(due),
                    "overdue": due is not None and due < now,
                }
            )
    return rows


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def list_tasks(
    as_: str | None = typer.Option(None, "--as", help="Tasks for this person's Roster roles."),
    role: str | None = typer.Option(None, "--role", help="Tasks for this role."),
    as_json: bool = JsonOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Active tasks and approvals across running incidents, soonest due first. Without
    --as or --role: every one."""
    if as_ and role:
        raise typer.BadParameter("give --as or --role, not both")
    roles = actor_for(as_, definitions).roles if as_ else [role] if role else None
    if roles == []:
        raise fail(f"{as_} holds no roles in the roster")
    query = "ExecutionStatus = 'Running' AND SopId IS NOT NULL"
    if roles:
        query += f" AND PendingRoles IN ({', '.join(_quote(r) for r in roles)})"

    async def go(client: Client) -> list[dict[str, Any]]:
        found = [wf async for wf in client.list_workflows(query)]
        per_incident = await asyncio.gather(*(_tasks_of(client, wf, roles) for wf in found))
        rows = [row for rows in per_incident for row in rows]
        return sorted(rows, key=lambda r: (r["due_at"] or "~", r["incident"], r["step"]))

    rows = run(go)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    out = table("incident", "sop", "step", "type", "role", "due", "overdue")
    for r in rows:
        overdue = "OVERDUE" if r["overdue"] else ""
        cells = (r["incident"], r["sop"], r["step"], r["type"], r["role"])
        out.add_row(*cells, to_second(r["due_at"]), overdue)
    console().print(out)
    print(plural(len(rows), "open task"), file=sys.stderr)
