"""``sopflow wellbeing``: each person's exposure to graphic content in their current shift.

Steps marked ``graphic`` count for whoever completed or voted on them. The shift is the one
the Rota has the person on call in now (its start); for someone on call nowhere now, the last
``--since`` (default 12h). Read from visibility in one list query.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sopflow.cli import remote
from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import (
    console,
    iso,
    table,
    to_second,
    with_api,
    with_incidents,
)
from sopflow.client.wellbeing import PersonExposure, exposures, shift_starts
from sopflow.language.durations import DurationError, parse_duration
from sopflow.language.library import default_definitions, load_library
from sopflow.language.models.documents import RosterDoc
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import RotaError


class WellbeingFormat(StrEnum):
    table = "table"
    json = "json"


def wellbeing(
    person: str | None = typer.Option(None, "--person", "-p", help="Only this person."),
    desk: str | None = typer.Option(None, "--desk", help="Only the people of this desk."),
    since: str = typer.Option("12h", help="For people on call nowhere now: this far back."),
    output: WellbeingFormat = typer.Option(WellbeingFormat.table, "--format", "-f"),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Graphic-content steps each person did in their current shift (for them and their
    lead: see who needs a break, or work rotated)."""
    if remote.enabled():
        if person is not None:
            raise fail("--person is for operators (direct mode); through the API, ask for --desk")
        _show(with_api(None, lambda api: remote.wellbeing(api, desk)), output)
        return
    roster, rota = _library(definitions)
    now = datetime.now(UTC)
    try:
        window = timedelta(seconds=parse_duration(since))
    except DurationError as exc:
        raise fail(f"--since: {exc}") from None
    people = _people(roster, person, desk)
    try:
        starts = shift_starts(rota, people, now, window)
    except RotaError as exc:
        raise fail(f"{exc} (`sopflow lint` shows where)") from None
    found = with_incidents(lambda incidents: exposures(incidents.client, starts))
    _show([_row(found[p], roster) for p in people], output)


def _show(rows: list[dict[str, Any]], output: WellbeingFormat) -> None:
    """Rows as the API answers them (``ExposureOut``), as JSON or a table."""
    if output is WellbeingFormat.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    out = table("person", "desk", "shift since (UTC)", "graphic steps", "last (UTC)")
    for r in rows:
        last = r["seen"][-1]["at"] if r["seen"] else None
        count = str(r["graphic_steps"]) if r["graphic_steps"] else "-"
        out.add_row(r["person"], r["desk"] or "-", to_second(r["since"]), count, to_second(last))
    console().print(out)
    exposed = sum(1 for r in rows if r["graphic_steps"])
    print(f"{exposed} {'person' if exposed == 1 else 'people'} exposed this shift", file=sys.stderr)


def _library(definitions: Path | None) -> tuple[RosterDoc, RotaDoc | None]:
    root = definitions or default_definitions()
    lib = load_library(root) if root.is_dir() else None
    if lib is None or lib.roster is None:
        raise fail(f"no valid Roster in {root}: `sopflow lint {root}` shows why")
    return lib.roster.model, lib.rota.model if lib.rota else None


def _people(roster: RosterDoc, person: str | None, desk: str | None) -> list[str]:
    if person is not None:
        if person not in roster.people:
            raise fail(f"no person {person!r} in the Roster")
        return [person]
    chosen = [
        handle
        for handle, p in sorted(roster.people.items())
        if desk is None or p.region.lower() == desk.lower() or desk.upper() in p.desks
    ]
    if not chosen:
        raise fail(f"nobody in the Roster works on a desk {desk!r}")
    return chosen


def _row(r: PersonExposure, roster: RosterDoc) -> dict[str, Any]:
    return {
        "person": r.person,
        "desk": roster.people[r.person].region,
        "since": iso(r.since),
        "graphic_steps": r.count,
        "seen": [{"incident": s.incident, "sop": s.sop, "at": iso(s.at)} for s in r.seen],
    }
