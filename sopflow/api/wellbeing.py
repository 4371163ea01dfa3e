"""Wellbeing: a person's exposure to graphic content in their current shift, for them and
for the leads of their desk.

Counts come from every incident (exposure is about the person); an incident the reader may
not see (need-to-know) is counted but not named.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from sopflow.api.context import Caller, Linted, PartsDep
from sopflow.api.identity import Person
from sopflow.api.problems import FORBIDDEN, NOT_FOUND, UNAVAILABLE, Problem
from sopflow.client.visibility import admits
from sopflow.client.wellbeing import PersonExposure, exposures, shift_starts
from sopflow.compile.lint import LintResult
from sopflow.contract.names import LEAD_ROLE
from sopflow.language.models.documents import RosterDoc
from sopflow.language.rota import RotaError

router = APIRouter(tags=["wellbeing"])

# For someone on call nowhere now: how far back "this shift" reaches.
OFF_SHIFT_WINDOW = timedelta(hours=12)
NEED_TO_KNOW = "(need-to-know)"


class SeenOut(BaseModel):
    incident: str = Field(description=f"The incident, or {NEED_TO_KNOW!r} if not yours to see")
    sop: str | None
    at: datetime


class ExposureOut(BaseModel):
    """The graphic-content steps one person did since their shift began."""

    person: str
    desk: str | None
    since: datetime
    graphic_steps: int
    seen: list[SeenOut]


DeskPath = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")]


@router.get("/me/wellbeing", summary="My exposure this shift", tags=["me"])
async def my_wellbeing(person: Caller, parts: PartsDep, linted: Linted) -> ExposureOut:
    """The graphic-content steps the caller did since their shift began (the Rota's duty
    they are on call in now; otherwise the last 12 hours)."""
    [mine] = await _exposures(parts, linted, [person.handle])
    return _out(mine, _roster(linted), person)


@router.get("/desks/{desk}/wellbeing", summary="A desk's exposure this shift")
async def desk_wellbeing(
    desk: DeskPath, person: Caller, parts: PartsDep, linted: Linted
) -> list[ExposureOut]:
    """Each person of ``desk`` with the graphic-content steps they did this shift: for the
    desk's leads, to rotate work and offer breaks (403 for anyone else)."""
    roster = _roster(linted)
    me = roster.people.get(person.handle)
    if me is None or LEAD_ROLE not in me.roles_on(desk):
        raise Problem(FORBIDDEN, f"only a lead of the {desk} desk sees its people's exposure")
    people = sorted(h for h, p in roster.people.items() if p.region == desk or desk in p.desks)
    if not people:
        raise Problem(NOT_FOUND, f"nobody in the Roster works on a desk {desk!r}")
    found = await _exposures(parts, linted, people)
    return [_out(e, roster, person) for e in found]


def _roster(linted: LintResult) -> RosterDoc:
    if linted.library.roster is None:
        raise Problem(UNAVAILABLE, "the Roster cannot be read")
    return linted.library.roster.model


async def _exposures(
    parts: PartsDep, linted: LintResult, people: list[str]
) -> list[PersonExposure]:
    rota = linted.library.rota.model if linted.library.rota else None
    now = datetime.now(UTC)
    try:
        starts = shift_starts(rota, people, now, OFF_SHIFT_WINDOW)
    except RotaError as exc:
        raise Problem(UNAVAILABLE, f"the Rota cannot be used: {exc}") from None
    service = parts.temporal.require()
    found = await exposures(service.client, starts)
    return [found[p] for p in people]


def _out(found: PersonExposure, roster: RosterDoc, reader: Person) -> ExposureOut:
    person = roster.people.get(found.person)
    seen = [
        SeenOut(
            incident=s.incident if admits(s.restricted_to, reader.roles) else NEED_TO_KNOW,
            sop=s.sop if admits(s.restricted_to, reader.roles) else None,
            at=s.at,
        )
        for s in found.seen
    ]
    return ExposureOut(
        person=found.person,
        desk=person.region if person else None,
        since=found.since,
        graphic_steps=found.count,
        seen=seen,
    )
