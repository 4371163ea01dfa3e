"""Task commands: a responder's queue, and the actions people take on incidents.

Every action (complete, approve, reject, note, and ``incident cancel``) is a Workflow
Update carrying the actor: the handle given with ``--as`` and the roles the Roster gives it.
The workflow's validator refuses a wrong person, a step that is not active, a form that does
not fit, a second vote or a four-eyes violation before anything reaches the history; the
command then prints ``refused: <reason>`` and exits 1.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import typer

from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import (
    JsonOpt,
    console,
    iso,
    json_object,
    plural,
    table,
    to_second,
    with_incidents,
)
from sopflow.client.incidents import Action, IncidentService, NoAnswer, OpenTask, new_request_id
from sopflow.client.signing import (
    DEV_KEYS_DIR,
    SIGNING_KEY_ENV,
    ActionSigner,
    KeyFileError,
    signer_from_env,
)
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    ExternalEvent,
    Note,
    Vote,
)
from sopflow.language.library import default_definitions
from sopflow.language.roster import RosterError, load_roster

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
        return new_request_id()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a UUID", param_hint="--request-id") from None


def operator_signer() -> ActionSigner:
    """The key this CLI signs actions with in direct mode, or exit 1 saying how to get one:
    workers refuse unsigned actions, so there is no point sending one."""
    try:
        signer = signer_from_env()
    except KeyFileError as exc:
        raise fail(str(exc)) from None
    if signer is None:
        raise fail(
            f"no signing key: set {SIGNING_KEY_ENV} to the operator key file, or run "
            f"`sopflow dev` in this directory once (it makes dev keys in {DEV_KEYS_DIR}); "
            "or use the HTTP API (SOPFLOW_API_URL)"
        )
    return signer


def _act(incident_id: str, action: Action, rid: str) -> None:
    """Send one action through the incident service and print what it did; exit 1 with the
    workflow's reason when it is refused, or with how to retry safely when nobody answered."""

    async def go(incidents: IncidentService) -> ActionResult:
        try:
            return await incidents.act(incident_id, action, request_id=rid)
        except NoAnswer as exc:
            raise fail(
                f"{exc}; to retry, run the same command with --request-id {rid}: Temporal "
                "applies it at most once"
            ) from None

    result = with_incidents(go, operator_signer())
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
    _act(incident_id, req, request_id(request))


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
    _act(incident_id, req, request_id(request))


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
    _act(incident_id, req, request_id(request))


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
    _act(incident_id, req, request_id(request))


def signal(
    incident_id: str = typer.Argument(..., metavar="ID"),
    event: str = typer.Argument(..., help="The event's name, as a `wait: {event: ...}` names it."),
    data: str = typer.Option("{}", "--data", help="Event data: JSON, @FILE or - (stdin)."),
) -> None:
    """Send an external event to an incident (a signal: it is never refused, and is kept
    until a `wait` step for that event consumes it)."""
    payload = ExternalEvent(name=event, data=json_object(data, "--data"))

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
    }


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
    actor = actor_for(as_, definitions) if as_ else None
    if actor is not None and not actor.roles:
        raise fail(f"{as_} holds no roles in the roster")

    async def go(incidents: IncidentService) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [_task_row(t, now) for t in await incidents.tasks_for(actor, role=role)]

    rows = with_incidents(go)
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
