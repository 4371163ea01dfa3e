"""The inbox's wellbeing line and a lead's desk table: each person's graphic-content steps
since their shift began, as ``GET /me/wellbeing`` and ``GET /desks/{desk}/wellbeing``
count them (the Rota's duty they are on call in now, otherwise the last 12 hours).

One inbox costs at most one visibility list for this (``client.wellbeing.exposures``: the
incidents with exposures changed since the earliest shift start), for the viewer and the
people of every desk they lead together, never a query per incident; and the answer is kept
a few seconds per person (``ShiftCache``), because live updates fetch every open inbox again
on every change. Only counts and times are shown, never an incident, so an incident the
viewer may not see (need-to-know) is counted without being named, as the API does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sopflow.api.context import Parts
from sopflow.api.wellbeing import OFF_SHIFT_WINDOW
from sopflow.client.wellbeing import exposures, shift_starts
from sopflow.contract.names import LEAD_ROLE
from sopflow.language.roster import Roster, RosterError
from sopflow.language.rota import RotaError

# How long one person's answer is kept: a burst of live updates reuses it; a graphic step
# just done shows within this (plus visibility's own lag).
SHIFT_CACHE_S = 5.0
SHIFT_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Exposed:
    """One person's graphic-content steps this shift."""

    person: str
    name: str
    count: int
    since: datetime  # in UTC
    last: datetime | None


@dataclass(frozen=True, slots=True)
class DeskShift:
    """A desk the viewer leads: each of its people this shift."""

    desk: str
    people: tuple[Exposed, ...]


@dataclass(frozen=True, slots=True)
class Shift:
    """What the inbox shows of this shift: the viewer's count, their desks' (as a lead), or
    why it cannot be said now."""

    mine: Exposed | None
    desks: tuple[DeskShift, ...] = ()
    unavailable: str | None = None


def led_desks(roster: Roster, handle: str) -> list[str]:
    """The desks on which ``handle`` holds the lead role."""
    me = roster.people.get(handle)
    if me is None:
        return []
    desks = {p.region for p in roster.people.values()} | set(me.desks)
    return sorted(d for d in desks if LEAD_ROLE in me.roles_on(d))


def desk_people(roster: Roster, desk: str) -> list[str]:
    """Who works on ``desk``: its own people and those the Roster gives roles on it."""
    return sorted(h for h, p in roster.people.items() if p.region == desk or desk in p.desks)


async def read_shift(parts: Parts, handle: str, now: datetime) -> Shift:
    """The viewer's shift and their desks', from one visibility list."""
    try:
        roster = await parts.identity.roster.current()
    except RosterError as exc:
        return Shift(None, unavailable=f"the Roster cannot be read: {exc}")
    linted = await parts.catalog.result()
    rota = linted.library.rota.model if linted.library.rota else None
    desks = {desk: desk_people(roster, desk) for desk in led_desks(roster, handle)}
    everyone = sorted({handle, *(h for people in desks.values() for h in people)})
    try:
        starts = shift_starts(rota, everyone, now, OFF_SHIFT_WINDOW)
    except RotaError as exc:
        return Shift(None, unavailable=f"the Rota cannot be used: {exc}")
    found = await exposures(parts.temporal.require().client, starts)

    def exposed(who: str) -> Exposed:
        person, seen = roster.people.get(who), found[who]
        since = seen.since.astimezone(UTC)
        return Exposed(who, person.name if person else who, seen.count, since, seen.last)

    return Shift(
        exposed(handle),
        tuple(DeskShift(d, tuple(exposed(h) for h in people)) for d, people in desks.items()),
    )


class ShiftCache:
    """Each person's ``Shift``, kept ``ttl_s`` seconds (the oldest go past ``size``)."""

    def __init__(
        self,
        ttl_s: float = SHIFT_CACHE_S,
        size: int = SHIFT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.size, self.clock = ttl_s, size, clock
        self._kept: dict[str, tuple[float, Shift]] = {}

    async def get(self, handle: str, read: Callable[[], Awaitable[Shift]]) -> Shift:
        """The person's shift: the one kept, if fresh, else ``read()`` (then kept)."""
        kept = self._kept.get(handle)
        if kept is not None and self.clock() - kept[0] < self.ttl_s:
            return kept[1]
        shift = await read()
        self._kept.pop(handle, None)  # re-added last: the dict's order is the age
        self._kept[handle] = (self.clock(), shift)
        while len(self._kept) > self.size:
            del self._kept[next(iter(self._kept))]
        return shift

    def forget(self, handle: str) -> None:
        """Read the person's shift afresh next time."""
        self._kept.pop(handle, None)
