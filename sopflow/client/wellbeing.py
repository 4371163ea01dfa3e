"""Exposure to graphic content, per person, from visibility.

Incidents whose SOP marks steps ``graphic`` keep who did them and when in the
``Exposures`` search attribute, so a person's exposure in a shift is one list query (the
incidents changed since the shift began), not a history read per incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from sopflow.client.views import restricted_to
from sopflow.client.visibility import incidents_only
from sopflow.contract import search
from sopflow.language.desk_time import shift_start
from sopflow.language.models.rota import RotaDoc


@dataclass(frozen=True, slots=True)
class Seen:
    """One graphic step one person did."""

    incident: str
    sop: str | None
    at: datetime
    restricted_to: tuple[str, ...] | None = None  # need-to-know: who may see the incident


@dataclass
class PersonExposure:
    """What one person did of graphic steps since ``since``, oldest first."""

    person: str
    since: datetime
    seen: list[Seen] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.seen)

    @property
    def last(self) -> datetime | None:
        return self.seen[-1].at if self.seen else None


def exposure_query(since: datetime) -> str:
    """Incidents that may hold an exposure at or after ``since``: a graphic step done then
    changed the incident, so its ``ChangedAt`` is at least that late."""
    stamp = since.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"Exposures IS NOT NULL AND ChangedAt >= '{stamp}'"


async def exposures(
    client: Client, since: dict[str, datetime], roles: Iterable[str] | None = None
) -> dict[str, PersonExposure]:
    """For each person of ``since`` (person -> the start of their shift), the graphic
    steps they did from then on. With ``roles``, only in incidents a holder may see."""
    out = {person: PersonExposure(person, start) for person, start in since.items()}
    if not out:
        return out
    earliest = min(since.values())
    query = incidents_only(exposure_query(earliest), roles)
    async for wf in client.list_workflows(query):
        attrs = wf.typed_search_attributes
        for person, at in search.exposures(attrs.get(search.EXPOSURES)):
            mine = out.get(person)
            if mine is not None and at >= mine.since:
                audience = restricted_to(attrs.get(search.AUDIENCE))
                mine.seen.append(Seen(wf.id, attrs.get(search.SOP_ID), at, audience))
    for mine in out.values():
        mine.seen.sort(key=lambda s: (s.at, s.incident))
    return out


def shift_starts(
    rota: RotaDoc | None, people: Iterable[str], now: datetime, window: timedelta
) -> dict[str, datetime]:
    """When each person's current shift began: the Rota's duty they are on call in now, or,
    for someone on call nowhere now (or without a Rota), ``window`` ago. RotaError when a
    desk's zone or calendar is unknown."""
    fallback = now - window
    if rota is None:
        return dict.fromkeys(people, fallback)
    return {p: shift_start(rota, p, now) or fallback for p in people}
