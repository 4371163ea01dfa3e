"""Moving a running incident to a corrected version of its SOP: ``POST
/incidents/{id}/migrate`` (what ``sopflow migrate`` does, for one incident).

The API resolves the version from its own library, in the incident's region. The workflow
decides (a lead's action, at a safe point); a refusal is a 409 problem with the reason and
leaves the incident where it is. ``dry_run`` asks the same question and changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sopflow.api.actions import act
from sopflow.api.catalog import resolve_plan
from sopflow.api.context import Caller, Linted, PartsDep
from sopflow.api.idempotency import IdempotencyKey
from sopflow.api.identity import authorise_read
from sopflow.api.incidents import IncidentIdPath
from sopflow.api.problems import INVALID, REFUSED, Problem, ProblemError
from sopflow.client.migration import check_migration
from sopflow.contract.messages import Migrate

router = APIRouter(tags=["actions"])

VERSIONED_SOP = r"^[a-z][a-z0-9-]{1,62}@[1-9][0-9]{0,5}$"


class MigrateBody(BaseModel):
    """Where to move the incident, and why."""

    model_config = {"extra": "forbid"}

    to: str = Field(
        pattern=VERSIONED_SOP,
        description="`SOP@VERSION`: a version whose `migrates_from` names the incident's",
    )
    reason: str = Field(default="", max_length=4000, description="Why (required unless `dry_run`)")
    dry_run: bool = Field(default=False, description="Only say whether it would move")


class MigrateOut(BaseModel):
    """What became of the incident: it moved (or, in a dry run, would move), or why not."""

    incident: str
    from_version: int | None
    to: str
    moved: bool
    would_move: bool
    reason: str | None = Field(None, description="Why it stays where it is")


@router.post("/incidents/{incident_id}/migrate", summary="Move to a corrected version")
async def migrate_incident(
    incident_id: IncidentIdPath,
    body: MigrateBody,
    person: Caller,
    parts: PartsDep,
    linted: Linted,
    key: IdempotencyKey = None,
) -> MigrateOut:
    """Move a running incident to a later version of its SOP at a safe point (the lead
    role only): every active step must be one the version's `migrates_from` maps. It keeps
    its timeline, votes and outputs; the move is recorded with who made it and why."""
    service = parts.temporal.require()
    await authorise_read(person, incident_id, service)
    summary = await service.summary(incident_id)
    sop_id, _, version = body.to.partition("@")
    plan = resolve_plan(linted, sop_id, int(version), summary.region)
    check = await check_migration(service, incident_id, plan)
    out = MigrateOut(
        incident=incident_id,
        from_version=check.version,
        to=body.to,
        moved=False,
        would_move=check.refusal is None,
        reason=check.refusal,
    )
    if body.dry_run:
        return out
    reason = body.reason.strip()
    if not reason:
        why = "say why the incident moves"
        raise Problem(INVALID, why, errors=[ProblemError(pointer="/reason", message=why)])
    if check.refusal is not None:
        raise Problem(REFUSED, check.refusal, actor=person.handle)
    action = Migrate(actor=person.actor(), plan=plan, reason=reason)
    await act(parts, person, incident_id, action, key)
    return out.model_copy(update={"moved": True, "would_move": True, "reason": None})
