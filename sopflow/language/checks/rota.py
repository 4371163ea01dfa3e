"""Checks of the Rota document: zones, holiday calendars, shifts, people and 24/7 cover.

The codes (E700-E707, W700) and the reasons behind each rule are in docs/rota.md.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from itertools import combinations

import holidays as holiday_data

from sopflow.contract.plan import Plan
from sopflow.language.checks.rota_cover import check_cover, escalation_roles, weekly_text
from sopflow.language.diagnostics import Diagnostic, has_errors
from sopflow.language.library import Library
from sopflow.language.models.documents import Person
from sopflow.language.models.rota import WEEKDAYS, Desk, OnCall, RotaDoc, Shift
from sopflow.language.rota import RotaError, public_holidays, shift_minutes, zone_of
from sopflow.language.validation import did_you_mean
from sopflow.language.yaml_source import SourceDoc

WEEK_MINUTES = 7 * 24 * 60


def check_rota(lib: Library, plans: Mapping[tuple[str, int, str], Plan]) -> list[Diagnostic]:
    """Every check of the library's Rota (none without one). The cover of the roles that
    ``plans`` escalate to is checked only when every zone, calendar and shift is sound."""
    if lib.rota is None:
        return []
    rota, source = lib.rota.model, lib.rota.source
    structure: list[Diagnostic] = []
    for name, desk in rota.desks.items():
        structure += _check_zone(source, name, desk)
        structure += _check_calendar(source, name, desk)
        structure += _check_shifts(source, name, desk)
    out = [*structure, *_check_people(lib, rota, source), *_check_double_booked(rota, source)]
    if not has_errors(structure):
        out += check_cover(rota, source, escalation_roles(plans))
    return out


def _check_zone(source: SourceDoc, name: str, desk: Desk) -> list[Diagnostic]:
    try:
        zone_of(desk.timezone)
    except RotaError:
        hint = did_you_mean(desk.timezone, sorted(zoneinfo.available_timezones()))
        message = (
            f"desk {name}: unknown time zone {desk.timezone!r}{hint}; use an IANA name such as "
            "America/New_York, Europe/London or Australia/Sydney"
        )
        return [source.diag(("desks", name, "timezone"), "E700", message)]
    return []


def _check_calendar(source: SourceDoc, name: str, desk: Desk) -> list[Diagnostic]:
    cal = desk.holidays
    if cal is None or cal.country is None:
        return []
    at = ("desks", name, "holidays")
    supported: dict[str, list[str]] = holiday_data.list_supported_countries()
    if cal.country not in supported:
        hint = _country_hint(cal.country, supported)
        message = (
            f"desk {name}: the `holidays` package has no public holidays for country "
            f"{cal.country!r}{hint}; use a country code such as US, GB or AU"
        )
        return [source.diag((*at, "country"), "E701", message)]
    try:
        public_holidays(cal.country, cal.subdivision)
    except RotaError:
        subdivisions = sorted(supported[cal.country])
        hint = did_you_mean(str(cal.subdivision), subdivisions)
        message = (
            f"desk {name}: {cal.country} has no subdivision {cal.subdivision!r}{hint}; "
            f"its subdivisions: {', '.join(subdivisions) or 'none'}"
        )
        return [source.diag((*at, "subdivision"), "E701", message)]
    return []


def _country_hint(code: str, supported: dict[str, list[str]]) -> str:
    # England, New South Wales, New York...: a subdivision written as a country.
    parents = sorted(c for c, subs in supported.items() if code in subs and len(c) == 2)
    if parents:
        return f" ({code} is a subdivision: write `country: {parents[0]}, subdivision: {code}`)"
    return did_you_mean(code, sorted(supported))


def _check_shifts(source: SourceDoc, name: str, desk: Desk) -> list[Diagnostic]:
    out = []
    first_line: dict[str, int] = {}
    for j, shift in enumerate(desk.shifts):
        at = ("desks", name, "shifts", j, "name")
        if shift.name in first_line:
            message = (
                f"desk {name} already has a shift `{shift.name}` (line {first_line[shift.name]}); "
                "give each shift its own name"
            )
            out.append(source.diag(at, "E703", message))
        else:
            first_line[shift.name] = source.pos(at).line
    names = list(first_line)
    for i, entry in enumerate(desk.oncall):
        if entry.shift not in first_line:
            hint = did_you_mean(entry.shift, names)
            message = (
                f"desk {name} has no shift `{entry.shift}`{hint}; its shifts: {', '.join(names)}"
            )
            out.append(source.diag(("desks", name, "oncall", i, "shift"), "E702", message))
    return out


def _check_people(lib: Library, rota: RotaDoc, source: SourceDoc) -> list[Diagnostic]:
    """Everyone on call is in the Roster and holds the role there (skipped without one)."""
    if lib.roster is None:
        return []
    people = lib.roster.model.people
    handles = sorted(people)
    # A desk named after a region holds its people's roles, and those given on it (`desks`);
    # a desk of another name (a finer split) is checked against every role a person holds.
    regions = {p.region for p in people.values()} | {d for p in people.values() for d in p.desks}
    out = []
    for name, desk in rota.desks.items():
        for i, entry in enumerate(desk.oncall):
            for k, handle in enumerate(entry.people):
                at = ("desks", name, "oncall", i, "people", k)
                person = people.get(handle)
                if person is None:
                    hint = did_you_mean(handle, handles)
                    message = f"no person `{handle}` in the roster{hint}"
                    out.append(source.diag(at, "E704", message))
                elif entry.role not in (roles := _roles_at(person, name, regions)):
                    held = ", ".join(roles) or "none"
                    message = (
                        f"{handle} is on call for '{entry.role}' at the {name} desk, a role the "
                        f"Roster does not give them there (their roles on it: {held})"
                    )
                    out.append(source.diag(at, "E705", message))
    return out


def _roles_at(person: Person, desk: str, regions: set[str]) -> list[str]:
    if desk in regions:
        return person.roles_on(desk)
    return [*person.roles, *(r for roles in person.desks.values() for r in roles)]


def _check_double_booked(rota: RotaDoc, source: SourceDoc) -> list[Diagnostic]:
    """Nobody is on call for one role twice at once on one desk: two entries whose dates
    and shifts overlap may share no person."""
    out = []
    for name, desk in rota.desks.items():
        shifts = {s.name: s for s in desk.shifts}
        pairs = combinations(enumerate(desk.oncall), 2)
        for (i, first), (j, second) in pairs:
            a, b = shifts.get(first.shift), shifts.get(second.shift)
            if first.role != second.role or a is None or b is None:
                continue
            shared = [p for p in second.people if p in first.people]
            if not shared or not _dates_overlap(first, second):
                continue
            overlap = first_overlap(a, b)
            if overlap is None:
                continue
            line = source.pos(("desks", name, "oncall", i)).line
            if a is b:
                when = f"entry on line {line} puts them on shift `{a.name}` already"
            else:
                when = (
                    f"shift `{a.name}` (entry on line {line}) and shift `{b.name}` overlap "
                    f"{weekly_text(*overlap)} local time"
                )
            message = (
                f"{shared[0]} is on call for '{second.role}' twice at once on desk {name}: "
                f"{when}; list each person once for each time"
            )
            k = second.people.index(shared[0])
            out.append(source.diag(("desks", name, "oncall", j, "people", k), "E706", message))
    return out


def _dates_overlap(a: OnCall, b: OnCall) -> bool:
    starts = [d for d in (a.from_, b.from_) if d is not None]
    ends = [d for d in (a.until, b.until) if d is not None]
    return not starts or not ends or max(starts) <= min(ends)


def _weekly(shift: Shift) -> list[tuple[int, int]]:
    """The shift's local times in minutes of the week (Monday 00:00 is 0), split at the
    week's end."""
    start, end = shift_minutes(shift)
    out = []
    for day in shift.days:
        lo = WEEKDAYS.index(day) * 24 * 60
        a, b = lo + start, lo + end
        out += [(a, b)] if b <= WEEK_MINUTES else [(a, WEEK_MINUTES), (0, b - WEEK_MINUTES)]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(out):  # days that run into each other are one stretch
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def first_overlap(a: Shift, b: Shift) -> tuple[int, int] | None:
    """The first stretch of the week (minutes) when both shifts run, by their local times;
    None when they never do (including a regular shift against a holiday-only one)."""
    if {a.holidays, b.holidays} == {"skip", "only"}:
        return None
    found = [
        (max(a0, b0), min(a1, b1))
        for a0, a1 in _weekly(a)
        for b0, b1 in _weekly(b)
        if max(a0, b0) < min(a1, b1)
    ]
    return min(found) if found else None
