"""``sopflow handoff``: what the next shift inherits, desk by desk.

For each desk (or the one asked for), who is on call now (from the Rota, when the library
has one) and the running incidents whose open work the desk holds: its own region's, and
those whose steps followed the sun to it (the ``Desk`` search attribute). Read from
visibility in one list query, so it works as well against the API (``$SOPFLOW_API_URL``).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sopflow.cli import remote
from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import console, iso, plural, table, to_second, with_api, with_incidents
from sopflow.cli.oncall import desk_json
from sopflow.client.views import IncidentSummary
from sopflow.client.visibility import quote
from sopflow.contract.search import steps_due
from sopflow.language.library import default_definitions, load_library
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import DeskNow, RotaError, on_call_at

# Running incidents read per call: a desk's open work at shift change is tens, not thousands.
LIMIT = 1000


class HandoffFormat(StrEnum):
    table = "table"
    json = "json"


def handoff_query(desk: str | None) -> str:
    """Running incidents, held by ``desk`` when one is given: those that keep a ``Desk``
    naming it, and those of its region that keep none (no step follows the sun)."""
    running = "ExecutionStatus = 'Running'"
    if desk is None:
        return running
    d = quote(desk)
    return f"{running} AND (Desk = {d} OR (Desk IS NULL AND Region = {d}))"


def handoff(
    desk: str | None = typer.Option(None, "--desk", help="Only this desk (e.g. UK)."),
    output: HandoffFormat = typer.Option(HandoffFormat.table, "--format", "-f"),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """What the next shift inherits: per desk, who is on call now and the open incidents it
    holds, soonest due first."""
    now = datetime.now(UTC)
    desks_now = _desks_now(definitions, now)
    if desk is not None:
        known = [d.desk for d in desks_now]
        desk = next((k for k in known if k.lower() == desk.lower()), desk)
    query = handoff_query(desk)
    if remote.enabled():
        found = with_api(None, lambda api: remote.incidents(api, query, LIMIT))
    else:
        found = with_incidents(lambda incidents: incidents.list(query, limit=LIMIT))
    names = sorted({d.desk for d in desks_now} | {s.desk for s in found if s.desk})
    if desk is not None:
        names = [desk]
    by_desk = {name: _held(found, name) for name in names}
    statuses = {d.desk: d for d in desks_now}
    if output is HandoffFormat.json:
        rows = [_desk_json(name, statuses.get(name), held) for name, held in by_desk.items()]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for name, held in by_desk.items():
        _print_desk(name, statuses.get(name), held)
    print(plural(sum(len(h) for h in by_desk.values()), "open incident"), file=sys.stderr)


def _desks_now(definitions: Path | None, now: datetime) -> list[DeskNow]:
    """Every desk of the library's Rota at ``now``; none without a Rota."""
    root = definitions or default_definitions()
    rota: RotaDoc | None = None
    if root.is_dir():
        lib = load_library(root)
        rota = lib.rota.model if lib.rota else None
    if rota is None:
        return []
    try:
        return on_call_at(rota, now)
    except RotaError as exc:
        raise fail(f"{exc} (`sopflow lint` shows where)") from None


def _held(found: list[IncidentSummary], desk: str) -> list[IncidentSummary]:
    """The incidents ``desk`` holds, soonest due first (those with no due time last)."""
    mine = [s for s in found if s.desk == desk and s.status == "running"]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(mine, key=lambda s: (min(steps_due(s.steps_due).values(), default=far), s.id))


def _waiting(summary: IncidentSummary) -> list[dict[str, Any]]:
    due = steps_due(summary.steps_due)
    return [{"step": step, "due_at": iso(due.get(step))} for step in summary.active_steps]


def _desk_json(name: str, now: DeskNow | None, held: list[IncidentSummary]) -> dict[str, Any]:
    return {
        "desk": name,
        "now": desk_json(now, None) if now is not None else None,
        "incidents": [
            {
                "id": s.id,
                "sop": s.sop,
                "version": s.version,
                "region": s.region,
                "severity": s.severity,
                "sla_breached": s.sla_breached,
                "waiting": _waiting(s),
                "pending_roles": list(s.pending_roles),
                "started": iso(s.started_at),
            }
            for s in held
        ],
    }


def _print_desk(name: str, now: DeskNow | None, held: list[IncidentSummary]) -> None:
    if now is None:
        print(f"{name} desk (not in the Rota)")
    else:
        on_call = ", ".join(f"{d.role} {' '.join(d.people)}" for d in now.duties) or "nobody"
        print(f"{name} desk: {now.status} at {now.local:%a %H:%M %Z}; on call: {on_call}")
    if not held:
        print("  nothing open\n")
        return
    out = table("incident", "sop", "severity", "waiting on", "due (UTC)", "breached", "opened")
    for s in held:
        waiting = _waiting(s)
        steps = ", ".join(w["step"] for w in waiting) or "-"
        due = ", ".join(to_second(w["due_at"]) for w in waiting if w["due_at"]) or "-"
        cells = (s.id, f"{s.sop}@{s.version}", s.severity or "-", steps, due)
        out.add_row(*cells, "yes" if s.sla_breached else "", to_second(iso(s.started_at)))
    console().print(out)
    print()
