"""Business time at a desk, and whose turn it is to follow the sun: more of the Rota's time
arithmetic (sopflow/language/rota.py holds the rest).

A desk's business clock runs in its ``business_hours`` (docs/rota.md), or, without them,
while its shifts run (holiday-only shifts aside); its holidays pause the clock either way.
A desk *covers* an instant when someone is on call there for the roles asked about; the
turn to act stays with the desk that holds it while that desk covers, and otherwise passes
to a desk that does. Every function is pure: instants are aware, answers are in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sopflow.language.models.rota import WEEKDAYS, RotaDoc, clock_minutes
from sopflow.language.rota import (
    DAY,
    DeskClock,
    RotaError,
    Span,
    cover,
    desk_at,
    desk_clocks,
    gaps,
    merge,
    on_call_at,
    shift_runs,
)

OFF_HOURS = "outside business hours"
MAX_PAUSES = 10


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an instant needs its UTC offset")
    return at.astimezone(UTC)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _would_count(clock: DeskClock, start: datetime, end: datetime) -> list[tuple[Span, str | None]]:
    """The spans the desk's business clock would run in around [start, end) if no day were a
    holiday, each with the holiday that stops it (``"2030-01-21 <name>"``) or None."""
    out: list[tuple[Span, str | None]] = []
    hours = clock.desk.business_hours
    if hours is None:
        for run in shift_runs(clock, start, end):
            if run.regular:  # holiday-only shifts never count
                name = None if run.actual else clock.holiday(date.fromisoformat(run.day))
                out.append((run.span, None if name is None else f"{run.day} {name}"))
        return out
    lo, hi = clock_minutes(hours.from_), clock_minutes(hours.to)
    day, last = clock.local_date(start), clock.local_date(end)
    while day <= last:
        if WEEKDAYS[day.weekday()] in hours.days:
            name = clock.holiday(day)
            span = (clock.instant(day, lo), clock.instant(day, hi))
            out.append((span, None if name is None else f"{day.isoformat()} {name}"))
        day += DAY
    return out


def business_spans(clock: DeskClock, start: datetime, end: datetime) -> list[Span]:
    """The merged spans within [start, end) in which the desk's business clock runs: its
    ``business_hours`` on their days, or else its running shifts that are not holiday-only;
    never on the desk's holidays (nor while a ``holidays: skip`` shift is off for one)."""
    start, end = _utc(start), _utc(end)
    return merge((span for span, why in _would_count(clock, start, end) if why is None), start, end)


@dataclass(frozen=True, slots=True)
class BusinessDue:
    """When a business-time allowance runs out, and why the clock paused on the way."""

    due: datetime
    paused: list[str] = field(default_factory=list)


def advance_business(
    clock: DeskClock, start: datetime, seconds: float, *, horizon: timedelta = timedelta(days=400)
) -> BusinessDue:
    """The instant ``seconds`` of the desk's business time after ``start`` (counting from
    ``start`` itself when the clock is running then), with the reasons it paused between
    the two: each holiday that stopped it, and ``outside business hours`` for ordinary
    nights and weekends. RotaError when the desk has no business time within ``horizon``."""
    start = _utc(start)
    if seconds <= 0:
        return BusinessDue(start, [])
    left = timedelta(seconds=seconds)
    limit = start + horizon
    cursor = start
    while cursor < limit:
        step = min(cursor + 7 * DAY, limit)
        for lo, hi in business_spans(clock, cursor, step):
            if hi - lo >= left:
                due = lo + left
                return BusinessDue(due, _pauses(clock, start, due))
            left -= hi - lo
        cursor = step
    raise RotaError(
        f"desk {clock.name} has not enough business time within {horizon.days} days of "
        f"{_stamp(start)}"
    )


def _pauses(clock: DeskClock, start: datetime, due: datetime) -> list[str]:
    """Why the business clock stood still between ``start`` and ``due``, in order, each
    reason once."""
    labelled = _would_count(clock, start, due)
    running = merge((s for s, why in labelled if why is None), start, due)
    closed = [(s, why) for s, why in labelled if why is not None]
    events: list[tuple[datetime, str]] = []
    for g0, g1 in gaps(running, start, due):
        kept = []
        for (lo, hi), why in closed:
            if lo < g1 and g0 < hi:
                events.append((max(lo, g0), why))
                kept.append((lo, hi))
        rest = gaps(merge(kept, g0, g1), g0, g1)
        if rest:
            events.append((rest[0][0], OFF_HOURS))
    out: list[str] = []
    for _, why in sorted(events):
        if why not in out:
            out.append(why)
    return out[:MAX_PAUSES]


@dataclass(frozen=True, slots=True)
class Turn:
    """Which desk has the turn to act at an instant, until when, and who is on call there."""

    desk: str
    until: datetime | None  # when the turn next changes; None: not within the horizon
    people: tuple[str, ...]
    reason: str


def _intersect(a: list[Span], b: list[Span]) -> list[Span]:
    """The overlap of two sorted, merged span lists."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def desk_turn(
    rota: RotaDoc,
    roles: list[str],
    *,
    every: bool,
    holder: str,
    at: datetime,
    horizon: timedelta = timedelta(days=14),
) -> Turn:
    """Whose turn it is at ``at``, following the sun. A desk covers an instant when someone
    is on call there for every one of ``roles`` (``every``) or for any of them. ``holder``
    keeps the turn while it covers; else the turn goes to a desk that covers ``at`` (the one
    covering longest, then by name); while no desk covers, ``holder`` keeps it (with nobody
    on call) until one starts. RotaError when a desk's zone or calendar is unknown."""
    if not roles:
        raise ValueError("a turn needs at least one role")
    at = _utc(at)
    end = at + horizon
    clocks = desk_clocks(rota)
    covering: dict[str, list[Span]] = {}
    for clock in clocks:
        runs = shift_runs(clock, at, end)
        per_role = [cover([(clock, runs)], role, at, end, holidays=True) for role in roles]
        spans = per_role[0]
        for more in per_role[1:]:
            spans = _intersect(spans, more) if every else merge(spans + more, at, end)
        covering[clock.name] = spans
    what = (" and " if every else " or ").join(roles)

    def until_text(until: datetime | None) -> str:
        return f"until {_stamp(until)}" if until else f"with no change within {horizon.days} days"

    def people_at(name: str) -> tuple[str, ...]:
        clock = next(c for c in clocks if c.name == name)
        duties = desk_at(clock, at).duties
        return tuple(sorted({p for d in duties if d.role in roles for p in d.people}))

    now = {name: s[0][1] for name, s in covering.items() if s and s[0][0] <= at}
    if holder in now:
        until = now[holder] if now[holder] < end else None
        reason = f"{holder} is on shift for {what} {until_text(until)}"
        return Turn(holder, until, people_at(holder), reason)
    off = f"{holder} is off shift" if holder in covering else f"{holder} is not a desk"
    if now:
        desk = min(now, key=lambda name: (-now[name].timestamp(), name))
        until = now[desk] if now[desk] < end else None
        reason = f"{off}; {desk} is on shift for {what} {until_text(until)}"
        return Turn(desk, until, people_at(desk), reason)
    starts = sorted((s[0][0], name) for name, s in covering.items() if s)
    if not starts:
        reason = f"no desk is on shift for {what}; {holder} keeps the turn"
        return Turn(holder, None, (), f"{reason} with no change within {horizon.days} days")
    first, desk = starts[0]
    reason = f"no desk is on shift for {what}; {holder} keeps the turn until {desk} starts at"
    return Turn(holder, first, (), f"{reason} {_stamp(first)}")


def shift_start(rota: RotaDoc, person: str, at: datetime) -> datetime | None:
    """When the shift ``person`` is on call in at ``at`` began (the earliest, if several
    duties overlap), or None when they are on call nowhere then."""
    starts = [
        duty.start for desk in on_call_at(rota, at) for duty in desk.duties if person in duty.people
    ]
    return min(starts) if starts else None
