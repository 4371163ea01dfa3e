"""Who is on call at an instant, and when a role is covered: the Rota's time arithmetic.

Everything here is a pure function of a Rota document and instants: the desks' wall-clock
shifts become UTC spans through zoneinfo (so daylight saving time moves them), and public
holidays come from the `holidays` package for the desk's country.

The rules (docs/rota.md): a shift belongs to the local date it starts on. It runs on that
date when the date's weekday is one of its ``days`` and the desk's holidays allow it
(``holidays: skip``, the default, does not run on a holiday; ``also`` runs anyway; ``only``
runs on holidays alone). An on-call entry is in force for the shifts that start on a date
from ``from`` to ``until`` (both inclusive, both optional).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import holidays as holiday_data

from sopflow.language.models.rota import WEEKDAYS, Desk, OnCall, RotaDoc, Shift, clock_minutes

Span = tuple[datetime, datetime]
"""A half-open interval of time, [start, end), in UTC."""

DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)


class RotaError(Exception):
    """The Rota cannot answer: a desk's time zone or holiday calendar is unknown."""


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``, or RotaError."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise RotaError(f"unknown time zone {name!r}") from None


def public_holidays(country: str, subdivision: str | None) -> holiday_data.HolidayBase:
    """The public holidays of ``country`` (and ``subdivision``), or RotaError."""
    try:
        return holiday_data.country_holidays(country, subdiv=subdivision)
    except (NotImplementedError, KeyError, ValueError) as exc:
        raise RotaError(f"no holiday calendar for {country!r}: {exc}") from None


def in_force(entry: OnCall, day: date) -> bool:
    """Whether ``entry`` applies to a shift that starts on local date ``day``."""
    return _in_force(entry, day.isoformat())


def _in_force(entry: OnCall, day: str) -> bool:
    # ISO dates order as text.
    return (entry.from_ is None or entry.from_ <= day) and (
        entry.until is None or day <= entry.until
    )


def shift_minutes(shift: Shift) -> tuple[int, int]:
    """Start and end, in minutes after the local midnight of the day the shift starts; an end
    not after the start is the next day's."""
    start, end = clock_minutes(shift.from_), clock_minutes(shift.to)
    return start, end if end > start else end + 24 * 60


@dataclass(frozen=True, slots=True)
class DeskClock:
    """One desk with its zone and holiday calendar resolved."""

    name: str
    desk: Desk
    zone: zoneinfo.ZoneInfo
    calendar: holiday_data.HolidayBase | None

    @classmethod
    def of(cls, name: str, desk: Desk) -> DeskClock:
        """Resolve the desk's zone and calendar; RotaError when either is unknown."""
        cal = desk.holidays
        calendar = public_holidays(cal.country, cal.subdivision) if cal and cal.country else None
        return cls(name, desk, zone_of(desk.timezone), calendar)

    def holiday(self, day: date) -> str | None:
        """The name of the desk's holiday on local date ``day``, or None."""
        if self.desk.holidays is None:
            return None
        named = self.desk.holidays.extra.get(day.isoformat())
        if named is not None:
            return named
        return self.calendar.get(day) if self.calendar is not None else None

    def runs(self, shift: Shift, day: date, *, holidays: bool = True) -> bool:
        """Whether ``shift`` runs from local date ``day``. Without ``holidays``, as if no day
        were a holiday (the desk's regular week)."""
        if WEEKDAYS[day.weekday()] not in shift.days:
            return False
        if not holidays:
            return shift.holidays != "only"
        if shift.holidays == "also":
            return True
        return (self.holiday(day) is not None) == (shift.holidays == "only")

    def span(self, shift: Shift, day: date) -> Span:
        """The UTC span of ``shift`` started on local date ``day``."""
        start, end = shift_minutes(shift)
        return self.instant(day, start), self.instant(day, end)

    def instant(self, day: date, minutes: int) -> datetime:
        """The UTC instant ``minutes`` after the local midnight that starts ``day`` (by the
        wall clock: 1440 is the next day's midnight)."""
        days, minute = divmod(minutes, 24 * 60)
        wall = datetime.combine(day + timedelta(days=days), time(minute // 60, minute % 60))
        # A wall time that DST skips or repeats is read with the offset before the change.
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def shift(self, name: str) -> Shift | None:
        return next((s for s in self.desk.shifts if s.name == name), None)


def desk_clocks(rota: RotaDoc) -> list[DeskClock]:
    """Every desk of ``rota``, by name; RotaError for the first unknown zone or calendar."""
    return [DeskClock.of(name, desk) for name, desk in sorted(rota.desks.items())]


@dataclass(frozen=True, slots=True)
class Duty:
    """People on call for one role on one running shift of one desk."""

    desk: str
    role: str
    shift: str
    people: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class DeskNow:
    """One desk at one instant: its local time, holiday, running shifts and duties."""

    desk: str
    timezone: str
    local: datetime
    holiday: str | None
    shifts: tuple[str, ...]
    closed: bool  # a shift would run now, but the desk keeps a holiday
    duties: tuple[Duty, ...]

    @property
    def status(self) -> str:
        """``open`` (a shift runs), ``closed`` (for a holiday) or ``off`` (no shift now)."""
        return "open" if self.shifts else ("closed" if self.closed else "off")


def desk_at(clock: DeskClock, at: datetime) -> DeskNow:
    """Who is on call at ``clock``'s desk at the aware instant ``at``."""
    running: list[tuple[Shift, date, Span]] = []
    skipped: list[date] = []
    today = clock.local_date(at)
    for day in (today - DAY, today):
        for shift in clock.desk.shifts:
            start, end = clock.span(shift, day)
            if not start <= at < end:
                continue
            if clock.runs(shift, day):
                running.append((shift, day, (start, end)))
            elif clock.runs(shift, day, holidays=False):
                skipped.append(day)
    duties = [
        Duty(clock.name, entry.role, shift.name, tuple(entry.people), *span)
        for shift, day, span in running
        for entry in clock.desk.oncall
        if entry.shift == shift.name and in_force(entry, day)
    ]
    closed = bool(skipped) and not running
    holiday = clock.holiday(skipped[0] if closed else today)
    return DeskNow(
        desk=clock.name,
        timezone=clock.desk.timezone,
        local=at.astimezone(clock.zone),
        holiday=holiday,
        shifts=tuple(sorted({shift.name for shift, _, _ in running})),
        closed=closed,
        duties=tuple(sorted(duties, key=lambda d: (d.role, d.start, d.shift))),
    )


def on_call_at(rota: RotaDoc, at: datetime) -> list[DeskNow]:
    """Every desk of ``rota`` at the instant ``at`` (aware), by desk name: who is on call
    for which role. RotaError when a desk's zone or holiday calendar is unknown."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an instant needs its UTC offset")
    return [desk_at(clock, at) for clock in desk_clocks(rota)]


@dataclass(frozen=True, slots=True)
class Run:
    """One shift of one desk, started on one local date."""

    shift: str
    day: str  # the local date, ISO
    span: Span
    regular: bool  # it runs in the desk's regular week (holidays aside)
    actual: bool  # it runs, holidays kept


def shift_runs(clock: DeskClock, start: datetime, end: datetime) -> list[Run]:
    """Every shift of ``clock`` that starts on a local date from the day before ``start``
    to the date of ``end``, and runs, in the regular week or with holidays kept."""
    out = []
    day, last = clock.local_date(start) - DAY, clock.local_date(end)
    while day <= last:
        holiday = clock.holiday(day) is not None
        for shift in clock.desk.shifts:
            if WEEKDAYS[day.weekday()] not in shift.days:
                continue
            regular = shift.holidays != "only"
            actual = shift.holidays == "also" or holiday == (shift.holidays == "only")
            span = clock.span(shift, day)
            out.append(Run(shift.name, day.isoformat(), span, regular, actual))
        day += DAY
    return out


def cover(
    timelines: Iterable[tuple[DeskClock, list[Run]]],
    role: str,
    start: datetime,
    end: datetime,
    *,
    holidays: bool,
) -> list[Span]:
    """The merged spans within [start, end) when someone is on call for ``role`` at any desk,
    given each desk's ``shift_runs``. Without ``holidays``, as if no day were a holiday."""
    spans: list[Span] = []
    for clock, runs in timelines:
        entries: dict[str, list[OnCall]] = {}
        for entry in clock.desk.oncall:
            if entry.role == role:
                entries.setdefault(entry.shift, []).append(entry)
        for run in runs:
            if (run.actual if holidays else run.regular) and any(
                _in_force(e, run.day) for e in entries.get(run.shift, ())
            ):
                spans.append(run.span)
    return merge(spans, start, end)


def merge(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """``spans`` clipped to [start, end), sorted, with overlapping and touching ones joined."""
    out: list[Span] = []
    for lo, hi in sorted((max(a, start), min(b, end)) for a, b in spans):
        if lo >= hi:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def gaps(covered: list[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of [start, end) that the sorted, merged ``covered`` spans leave out."""
    out: list[Span] = []
    at = start
    for lo, hi in covered:
        if lo > at:
            out.append((at, lo))
        at = max(at, hi)
    if at < end:
        out.append((at, end))
    return out
