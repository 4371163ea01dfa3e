"""Task commands: a responder's queue, and the actions people take on incidents.

Every action (complete, approve, reject, note, and ``incident cancel``) is a Workflow
Update carrying the actor: the handle given with ``--as`` and the roles the Roster gives it.
The workflow's validator refuses a wrong person, a step that is not active, a form that does
not fit, a second vote or a four-eyes violation before anything reaches the history; the
command then prints ``refused: <reason>`` and exits 1.

With ``$SOPFLOW_API_URL`` set, each goes through the HTTP API instead: the actor is whoever
the token is for (``--as`` picks the dev token, and must match the token's person), the API
signs the action, and ``--request-id`` is the Idempotency-Key (``sopflow.cli.remote``).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import typer

from sopflow.cli import remote
from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import (
    JsonOpt,
    console,
    iso,
    json_object,
    operator_signer,
    plural,
    table,
    to_second,
    with_api,
    with_incidents,
)
from sopflow.client.incidents import Action, IncidentService, NoAnswer, OpenTask, new_request_id
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    ExternalEvent,
    Note,
    PostUpdate,
    Vote,
)
from sopflow.language.library import default_definitions
from sopflow.language.roster import RosterError, load_roster

RETRY_HELP = (
    "Makes a retry safe. The action is sent as a Workflow Update whose id is derived from "
    "this UUID (a new one when not given; through the API, it is the Idempotency-Key); run "
    "the same command again with the same --request-id and Temporal applies it at most once."
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
        return new_request_id()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a UUID", param_hint="--request-id") from None


def _act(
    incident_id: str,
    user: str | None,
    definitions: Path | None,
    rid: str,
    action: Callable[[Actor], Action],
) -> None:
    """Send the action ``action`` makes for the acting person (``user`` with their Roster
    roles; through the API, whoever the token is for) and print what it did; exit 1 with the
    workflow's reason when it is refused, or with how to retry safely when nobody answered."""
    if remote.enabled():
        result = with_api(user, lambda api: remote.act(api, incident_id, action(api.actor), rid))
    else:
        result = _act_directly(incident_id, action(actor_for(user, definitions)), rid)
    where = f" {result.step}" if result.step else ""
    print(f"{incident_id}{where}: {result.detail}")


def _act_directly(incident_id: str, action: Action, rid: str) -> ActionResult:
    async def go(incidents: IncidentService) -> ActionResult:
        try:
            return await incidents.act(incident_id, action, request_id=rid)
        except NoAnswer as exc:
            raise fail(
                f"{exc}; to retry, run the same command with --request-id {rid}: Temporal "
                "applies it at most once"
            ) from None

    return with_incidents(go, operator_signer())


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
    form = json_object(data, "--data")
    rid = request_id(request)
    _act(incident_id, as_, definitions, rid, lambda a: CompleteTask(step=step, actor=a, data=form))


def _vote(
    decision: Literal["approve", "reject"],
    incident_id: str,
    step: str,
    as_: str | None,
    reason: str,
    request: str | None,
    definitions: Path | None,
) -> None:
    if not reason.strip():
        raise fail("--reason must say why")

    def vote(actor: Actor) -> Vote:
        return Vote(step=step, actor=actor, decision=decision, reason=reason)

    _act(incident_id, as_, definitions, request_id(request), vote)


class SeverityLevelArg(StrEnum):
    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


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
    rid = request_id(request)
    _act(incident_id, as_, definitions, rid, lambda a: Note(actor=a, text=text, step=step))


def severity(
    incident_id: str = typer.Argument(..., metavar="ID"),
    level: SeverityLevelArg = typer.Argument(..., metavar="SEV0..SEV4"),
    as_: str | None = AsOpt,
    reason: str = ReasonOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Set the incident's severity, up or down (the 'lead' role), with the reason. A later
    triage raises it by itself; only a lead lowers it."""
    if not reason.strip():
        raise fail("--reason must say why")
    rid = request_id(request)
    value = level.value

    def note(actor: Actor) -> Note:
        return Note(actor=actor, text=reason, severity=value)

    _act(incident_id, as_, definitions, rid, note)


def post_update(
    incident_id: str = typer.Argument(..., metavar="ID"),
    as_: str | None = AsOpt,
    text: str = typer.Option(..., "--text", help="The update, as stakeholders read it."),
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Post the stakeholder update the incident asked for (the SOP's `updates`; the asked
    role, usually 'lead'): the text goes to the SOP's update destination."""
    if not text.strip():
        raise fail("--text is empty")
    rid = request_id(request)
    _act(incident_id, as_, definitions, rid, lambda a: PostUpdate(actor=a, text=text))


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
    rid = request_id(request)
    _act(incident_id, as_, definitions, rid, lambda a: Cancel(actor=a, reason=reason))


def signal(
    incident_id: str = typer.Argument(..., metavar="ID"),
    event: str = typer.Argument(..., help="The event's name, as a `wait: {event: ...}` names it."),
    data: str = typer.Option("{}", "--data", help="Event data: JSON, @FILE or - (stdin)."),
) -> None:
    """Send an external event to an incident (a signal: it is never refused, and is kept
    until a `wait` step for that event consumes it). Through the API, it is sent as
    $SOPFLOW_USER (or the token's person)."""
    payload = ExternalEvent(name=event, data=json_object(data, "--data"))
    if remote.enabled():
        with_api(None, lambda api: remote.act(api, incident_id, payload, None))
    else:

        async def go(incidents: IncidentService) -> None:
            await incidents.act(incident_id, payload)

        with_incidents(go)
    print(f"sent {event!r} to {incident_id}")


# --- the queue


def _task_row(task: OpenTask, now: datetime) -> dict[str, Any]:
    return {
        "incident": task.incident,
        "sop": f"{task.sop}@{task.version}",
        "region": task.region,
        "step": task.step,
        "title": task.title,
        "type": task.type,
        "role": "|".join(task.roles),
        "due_at": iso(task.due_at),
        "overdue": task.due_at is not None and task.due_at < now,
        # The desk whose people act on it: another region's when it followed the sun.
        "desk": task.desk or task.region,
        "stalled": task.stalled,
    }


def _direct_tasks(
    actor: Actor | None, role: str | None
) -> Callable[[IncidentService], Coroutine[Any, Any, list[OpenTask]]]:
    if actor is not None and not actor.roles:
        raise fail(f"{actor.id} holds no roles in the roster")

    async def go(incidents: IncidentService) -> list[OpenTask]:
        return await incidents.tasks_for(actor, role=role)

    return go


def list_tasks(
    as_: str | None = typer.Option(None, "--as", help="Tasks for this person's Roster roles."),
    role: str | None = typer.Option(None, "--role", help="Tasks for this role."),
    as_json: bool = JsonOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Active tasks and approvals across running incidents, soonest due first. Without
    --as or --role: every one. Through the API: the caller's own (the API lists a queue per
    person, so --role needs direct mode)."""
    if as_ and role:
        raise typer.BadParameter("give --as or --role, not both")
    if remote.enabled():
        if role:
            raise typer.BadParameter(
                "needs direct mode: through the API, `task list` lists the caller's own "
                "tasks (use --as USER, or unset SOPFLOW_API_URL)",
                param_hint="--role",
            )
        found = with_api(as_, remote.tasks)
    else:
        found = with_incidents(_direct_tasks(actor_for(as_, definitions) if as_ else None, role))
    now = datetime.now(UTC)
    rows = [_task_row(t, now) for t in found]
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    out = table("incident", "sop", "step", "type", "role", "desk", "due", "overdue")
    for r in rows:
        overdue = ("OVERDUE" if r["overdue"] else "") + (" (stalled)" if r["stalled"] else "")
        desk = r["desk"] if r["desk"] == r["region"] else f"{r['desk']} (from {r['region']})"
        cells = (r["incident"], r["sop"], r["step"], r["type"], r["role"], desk)
        out.add_row(*cells, to_second(r["due_at"]), overdue.strip())
    console().print(out)
    print(plural(len(rows), "open task"), file=sys.stderr)
