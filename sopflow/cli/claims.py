"""Who works on a task now: ``task claim``, ``task release``, ``task assign`` and ``sopflow
away``. A claim is advisory (anyone who may act on the step still can); it tells the desk
who has it, and stepping away hands everything back with a note."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from sopflow.cli import remote
from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import operator_signer, plural, with_api, with_incidents
from sopflow.cli.tasks import AsOpt, RequestIdOpt, _act, actor_for, request_id
from sopflow.client.claims import step_away
from sopflow.client.incidents import IncidentService
from sopflow.contract.messages import Actor, ClaimKind, Note
from sopflow.language.library import default_definitions
from sopflow.language.roster import RosterError, load_roster
from sopflow.language.validation import did_you_mean

IdArg = typer.Argument(..., metavar="ID")
StepArg = typer.Argument(..., metavar="STEP")


def _claim(
    kind: ClaimKind,
    incident_id: str,
    step: str,
    as_: str | None,
    text: str,
    request: str | None,
    definitions: Path | None,
    assignee: str | None = None,
) -> None:
    if not text.strip():
        raise fail("--text is empty")
    rid = request_id(request)

    def note(actor: Actor) -> Note:
        return Note(actor=actor, text=text, step=step, claim=kind, assignee=assignee)

    _act(incident_id, as_, definitions, rid, note)


def claim(
    incident_id: str = IdArg,
    step: str = StepArg,
    as_: str | None = AsOpt,
    text: str = typer.Option("on it", "--text", help="A note for the timeline."),
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Take a task or approval: the desk sees you have it."""
    _claim("take", incident_id, step, as_, text, request, definitions)


def release(
    incident_id: str = IdArg,
    step: str = StepArg,
    as_: str | None = AsOpt,
    text: str = typer.Option(..., "--text", help="Where it stands, for whoever takes it."),
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Give a task or approval back to the desk's queue (yours, or as a lead anyone's)."""
    _claim("release", incident_id, step, as_, text, request, definitions)


def assign(
    incident_id: str = IdArg,
    step: str = StepArg,
    to: str = typer.Option(..., "--to", help="Who takes it: a Roster handle."),
    as_: str | None = AsOpt,
    text: str = typer.Option(..., "--text", help="Why: recorded on the timeline."),
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Rotate work (the lead role): give a task or approval to someone else."""
    if not remote.enabled():  # through the API, the API checks the Roster
        try:
            roster = load_roster(definitions or default_definitions())
        except RosterError as exc:
            raise fail(str(exc)) from None
        if to not in roster.people:
            raise fail(f"no person {to!r} in the Roster{did_you_mean(to, sorted(roster.people))}")
    _claim("assign", incident_id, step, as_, text, request, definitions, assignee=to)


def away(
    as_: str | None = AsOpt,
    text: str = typer.Option(..., "--text", help="A note for each task you hand back."),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Step away: every task or approval you have claimed goes back to its desk's queue,
    with your note. Nothing is lost; take them again when you are back."""
    if not text.strip():
        raise fail("--text is empty")
    if remote.enabled():
        released = with_api(as_, lambda api: remote.step_away(api, text))
        pairs = [(r["incident"], r["step"]) for r in released]
    else:
        actor = actor_for(as_, definitions)

        async def go(incidents: IncidentService) -> list[tuple[str, str]]:
            return await step_away(incidents, actor, text)

        pairs = with_incidents(go, operator_signer())
    for incident_id, step in pairs:
        print(f"released {step} of {incident_id}")
    print(f"{plural(len(pairs), 'task')} back with the desk", file=sys.stderr)
