"""Moving running incidents to a corrected version of their SOP (`sopflow migrate`).

A dry run asks the same question the workflow's validator asks (the contract's
``migration_refusal``) of each incident's state and plan, so what it lists as moving is what
would move, barring a step that finishes meanwhile. A real move is the `migrate` update, a
lead's signed action; an incident that cannot move is left as it is, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sopflow.client.incidents import ActionRefused, IncidentService
from sopflow.client.visibility import quote
from sopflow.contract import search
from sopflow.contract.messages import Actor, Migrate
from sopflow.contract.migration import migration_refusal
from sopflow.contract.plan import Plan

# At most this many incidents per `--query` (the operator narrows the query for more).
MIGRATE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class MigrationCheck:
    """One incident's answer: it can move (``refusal`` None) or why it stays."""

    incident_id: str
    version: int | None  # the version it runs now (None: not an incident one can read)
    refusal: str | None


async def check_migration(
    service: IncidentService, incident_id: str, later: Plan
) -> MigrationCheck:
    """Whether the incident could move to ``later`` now, and why not."""
    try:
        state = await service.state(incident_id)
        current = await service.plan(incident_id)
    except ActionRefused as exc:
        return MigrationCheck(incident_id, None, exc.reason)
    return MigrationCheck(incident_id, state.version, migration_refusal(state, current, later))


async def migrate(
    service: IncidentService, incident_id: str, later: Plan, actor: Actor, reason: str
) -> MigrationCheck:
    """Move the incident (a dry run's check first, then the update, which checks again)."""
    found = await check_migration(service, incident_id, later)
    if found.refusal is not None:
        return found
    try:
        await service.act(incident_id, Migrate(actor=actor, plan=later, reason=reason))
    except ActionRefused as exc:
        return MigrationCheck(incident_id, found.version, exc.reason)
    return found


def candidates_query(sop_id: str, from_version: int, query: str | None) -> str:
    """The running incidents of ``sop_id@from_version`` (every region), narrowed by
    ``query`` (a visibility query)."""
    where = (
        f"{search.SOP_ID.name} = {quote(sop_id)} AND "
        f"{search.SOP_VERSION.name} = {from_version} AND ExecutionStatus = 'Running'"
    )
    return f"{where} AND ({query})" if query else where


async def candidates(
    service: IncidentService, sop_id: str, from_version: int, query: str | None
) -> list[tuple[str, str]]:
    """(id, region) of each incident ``candidates_query`` finds, oldest first."""
    found = await service.list(candidates_query(sop_id, from_version, query), limit=MIGRATE_LIMIT)
    return [(summary.id, summary.region or "") for summary in reversed(found)]
