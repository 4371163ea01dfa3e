"""``sopflow migrate``: move running incidents to a corrected version of their SOP.

The target version's `migrates_from` names the version it corrects and the steps where an
incident of that version may move (its safe points). An incident moves only while every
step active in it is one of those; one that cannot move stays where it is, and the command
says why. ``--dry-run`` lists what would move and what would stay, changing nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from sopflow.cli import remote
from sopflow.cli.authoring import DefinitionsOpt, fail, load_linted
from sopflow.cli.incidents import console, operator_signer, plural, table, with_incidents
from sopflow.cli.tasks import AsOpt, actor_for
from sopflow.client.incidents import IncidentService
from sopflow.client.migration import MigrationCheck, candidates, check_migration, migrate
from sopflow.compile.lint import LintResult
from sopflow.contract.plan import Plan


def migrate_cmd(
    ids: list[str] = typer.Argument(None, metavar="[ID]...", help="Incidents to move."),
    to: str = typer.Option(..., "--to", metavar="SOP@VERSION", help="The version to move to."),
    query: str | None = typer.Option(
        None,
        "--query",
        "-q",
        help="Also every running incident of the version it migrates from that this "
        "visibility query finds (e.g. \"Region = 'UK'\"; '' for all).",
    ),
    reason: str = typer.Option("", "--reason", help="Why: recorded on each incident moved."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would move; move nothing."),
    as_: str | None = AsOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Move running incidents to a corrected version (the 'lead' role), at safe points:
    each moves only while every active step is one the version's `migrates_from` maps, and
    keeps its timeline, votes and outputs. Exit 1 when any stays (with the reason)."""
    if not ids and query is None:
        raise fail("name the incidents to move, or --query to find them")
    if not dry_run and not reason.strip():
        raise fail("--reason must say why (each incident moved records it)")
    result = load_linted(definitions)
    plans = _target_plans(result, to)
    if remote.enabled():
        raise fail(
            "sopflow migrate talks to Temporal directly (it reads the library here): unset "
            "$SOPFLOW_API_URL, or POST /api/v1/incidents/{id}/migrate"
        )
    actor = None if dry_run else actor_for(as_, definitions)

    async def go(incidents: IncidentService) -> list[MigrationCheck]:
        found = [(i, await _region_of(incidents, i)) for i in ids or []]
        if query is not None:
            some = next(iter(plans.values()))
            assert some.migrates_from is not None
            found += await candidates(incidents, some.sop.id, some.migrates_from.version, query)
        out = []
        for incident_id, region in dict(found).items():
            plan = plans.get(region)
            if plan is None:
                out.append(MigrationCheck(incident_id, None, f"{to} has no {region} variant"))
            elif actor is None:
                out.append(await check_migration(incidents, incident_id, plan))
            else:
                out.append(await migrate(incidents, incident_id, plan, actor, reason.strip()))
        return out

    checks = with_incidents(go, None if dry_run else operator_signer())
    _report(checks, dry_run)
    if not dry_run and any(c.refusal is not None for c in checks):
        raise typer.Exit(1)


def _target_plans(result: LintResult, ref: str) -> dict[str, Plan]:
    """The compiled plans of ``SOP@VERSION`` by region; exit 1 unless it migrates."""
    sop_id, _, version_text = ref.partition("@")
    if not version_text.isdigit():
        raise fail(f"{ref!r}: name the version to move to, e.g. {sop_id}@2")
    version = int(version_text)
    plans = {k[2]: p for k, p in result.plans.items() if k[:2] == (sop_id, version)}
    if not plans:
        raise fail(f"no {ref} that compiles in {result.library.root} (`sopflow lint` says why)")
    if all(p.migrates_from is None for p in plans.values()):
        raise fail(f"{ref} has no `migrates_from`: it names no version whose incidents may move")
    return plans


async def _region_of(incidents: IncidentService, incident_id: str) -> str:
    summary = await incidents.summary(incident_id)
    return summary.region or ""


def _report(checks: list[MigrationCheck], dry_run: bool) -> None:
    out = table("incident", "from", "result")
    for check in checks:
        if check.refusal is None:
            verdict = "would move" if dry_run else "moved"
        else:
            verdict = f"stays: {check.refusal}"
        version = "-" if check.version is None else str(check.version)
        out.add_row(check.incident_id, version, verdict)
    console().print(out)
    moving = sum(1 for c in checks if c.refusal is None)
    verb = "would move" if dry_run else "moved"
    print(f"{plural(moving, 'incident')} {verb}, {len(checks) - moving} stay", file=sys.stderr)
