"""The 24/7 check: someone is on call, at some desk, for every role an SOP escalates to.

The Rota is checked over a period it plans, in UTC, with every desk's daylight saving time:
52 weeks from the Monday on or before its earliest `from` date (or from REFERENCE_START when
it names none), longer when an `until` is later. A gap in the regular week (holidays aside)
is an error, E707; a gap only on a desk's holidays is a warning, W700.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sopflow.contract.plan import ApprovalPlan, ParallelPlan, Plan, PlanStep, TaskPlan
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import (
    DAY,
    WEEK,
    DeskClock,
    Span,
    cover,
    desk_clocks,
    gaps,
    in_force,
    shift_runs,
)
from sopflow.language.yaml_source import JsonPath, SourceDoc

# The Monday the check period starts on when the Rota names no date: the holidays checked are
# this year's (a Rota with dates is checked from its own first date).
REFERENCE_START = date(2026, 1, 5)
PERIOD_WEEKS = 52
# Gaps reported per role and code; the last message says how many more there are.
MAX_REPORTED = 3
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def escalation_roles(plans: Mapping[tuple[str, int, str], Plan]) -> dict[str, str]:
    """Every role a task or approval of ``plans`` escalates to, and every role a stakeholder
    update cadence that follows the sun asks or pages (the desk on shift for it is asked, so
    some desk must always be), with the first SOP (as ``id@version (REGION)``) that does, by
    role."""
    found: dict[str, str] = {}
    for (sop_id, version, region), plan in sorted(plans.items()):
        for role in [*_escalations(plan.steps), *_update_roles(plan)]:
            found.setdefault(role, f"{sop_id}@{version} ({region})")
    return dict(sorted(found.items()))


def _update_roles(plan: Plan) -> list[str]:
    out: list[str] = []
    for cadence in (plan.updates or {}).values():
        if cadence.follow_the_sun:
            out += [cadence.asked, *cadence.escalate]
    return out


def _escalations(steps: list[PlanStep]) -> list[str]:
    out: list[str] = []
    for step in steps:
        if isinstance(step, TaskPlan | ApprovalPlan):
            out += step.escalate
        elif isinstance(step, ParallelPlan):
            for branch in step.branches:
                out += _escalations(branch.steps)
    return out


def check_period(rota: RotaDoc) -> Span:
    """The UTC span the 24/7 check covers: whole weeks, Monday to Monday."""
    entries = [e for desk in rota.desks.values() for e in desk.oncall]
    froms = [e.from_ for e in entries if e.from_ is not None]
    untils = [e.until for e in entries if e.until is not None]
    first = date.fromisoformat(min(froms)) if froms else REFERENCE_START
    start = first - timedelta(days=first.weekday())
    end = start + timedelta(weeks=PERIOD_WEEKS)
    if untils:
        # Past the last `until`, to show when the Rota runs out.
        last = date.fromisoformat(max(untils)) + timedelta(days=2)
        end = max(end, last + timedelta(days=(7 - last.weekday()) % 7))
    return _midnight(start), _midnight(end)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def check_cover(rota: RotaDoc, source: SourceDoc, roles: Mapping[str, str]) -> list[Diagnostic]:
    """For each role: E707 naming the first gaps in its regular weekly cover, W700 naming
    the first gaps that only a desk's holiday makes."""
    clocks = desk_clocks(rota)
    start, end = check_period(rota)
    # A margin on each side, so a gap is never cut by the period's edges.
    lo, hi = start - WEEK, end + WEEK
    timelines = [(clock, shift_runs(clock, lo, hi)) for clock in clocks]
    out = []
    for role, used_by in roles.items():
        at = _role_place(rota, role)
        if at is None:
            message = f"nobody is ever on call for '{role}', which {used_by} escalates to"
            out.append(source.diag(("desks",), "E707", message, key=True))
            continue
        regular = cover(timelines, role, lo, hi, holidays=False)
        missing = [g for g in gaps(regular, lo, hi) if start <= g[0] < end]
        texts = _pattern_texts(missing, start, end)
        out += _report(source, at, "E707", role, used_by, texts)
        every_day = cover(timelines, role, lo, hi, holidays=True)
        closed = [g for g in _only_holidays(every_day, regular) if g[0] < end and g[1] > start]
        texts = [_holiday_text(g, clocks, role) for g in closed]
        out += _report(source, at, "W700", role, used_by, texts)
    return out


def _role_place(rota: RotaDoc, role: str) -> JsonPath | None:
    for name, desk in rota.desks.items():
        for i, entry in enumerate(desk.oncall):
            if entry.role == role:
                return ("desks", name, "oncall", i, "role")
    return None


def _report(
    source: SourceDoc, at: JsonPath, code: str, role: str, used_by: str, texts: list[str]
) -> list[Diagnostic]:
    """One diagnostic naming the first gaps, in time order, and how many more there are."""
    if not texts:
        return []
    shown = "; ".join(texts[:MAX_REPORTED])
    more = len(texts) - MAX_REPORTED
    rest = f"; and {more} more gap{'s' if more > 1 else ''}" if more > 0 else ""
    message = f"nobody is on call for '{role}' {shown}{rest} ({used_by} escalates to it)"
    return [source.diag(at, code, message)]


def _only_holidays(every_day: list[Span], regular: list[Span]) -> list[Span]:
    """The parts of ``regular`` cover that ``every_day`` cover (holidays kept) lacks."""
    if not regular:
        return []
    missing = gaps(every_day, regular[0][0], regular[-1][1])
    found = [
        (max(a, b), min(c, d)) for a, c in missing for b, d in regular if max(a, b) < min(c, d)
    ]
    return sorted(found)


def _pattern_texts(found: list[Span], start: datetime, end: datetime) -> list[str]:
    """The gaps in words, in the order of their first: shorter than a day, those at one
    time of day and of one length together; up to a week, those at one time of the week and
    of one length; longer ones, and one that lasts past the period, each on its own."""
    weeks = (end - start) // WEEK
    daily: dict[tuple[int, timedelta], list[datetime]] = {}
    weekly: dict[tuple[int, timedelta], list[datetime]] = {}
    texts: list[tuple[datetime, str]] = []
    for lo, hi in found:
        if hi - lo >= WEEK or hi >= end + WEEK:
            until = "on" if hi >= end + WEEK else f"to {hi:%a %Y-%m-%d %H:%M} UTC"
            texts.append((lo, f"from {lo:%a %Y-%m-%d %H:%M} UTC {until}"))
        elif hi - lo < DAY:
            daily.setdefault((lo.hour * 60 + lo.minute, hi - lo), []).append(lo)
        else:
            weekly.setdefault((_week_minute(lo), hi - lo), []).append(lo)
    for (minute, length), starts in daily.items():
        texts.append((starts[0], _daily_text(minute, length, starts, weeks)))
    for (minute, length), starts in weekly.items():
        stretch = weekly_text(minute, minute + int(length.total_seconds()) // 60)
        texts.append((starts[0], f"{stretch} UTC{_how_often(starts, weeks)}"))
    return [text for _, text in sorted(texts)]


def _week_minute(at: datetime) -> int:
    return at.weekday() * 24 * 60 + at.hour * 60 + at.minute


def _how_often(starts: list[datetime], weeks: int, per_week: int = 1) -> str:
    if len(starts) == per_week * weeks:
        return ", every week"
    first, last = starts[0], starts[-1]
    return f" on {len(starts)} days from {first:%Y-%m-%d} to {last:%Y-%m-%d}"


def _daily_text(minute: int, length: timedelta, starts: list[datetime], weeks: int) -> str:
    finish = minute + int(length.total_seconds()) // 60
    if finish > 24 * 60:
        hours = f"{_clock(minute)} to {_clock(finish - 24 * 60)} the next day"
    else:
        hours = f"{_clock(minute)}-{_clock(finish)}"
    if len(starts) == 1:
        return f"on {starts[0]:%a %Y-%m-%d} {hours} UTC"
    days = sorted({s.weekday() for s in starts})
    named = "every day" if len(days) == 7 else "on " + _listed([_DAY_NAMES[d] + "s" for d in days])
    return f"{named} {hours} UTC{_how_often(starts, weeks, len(days))}"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def weekly_text(lo: int, hi: int) -> str:
    """A stretch of the week in minutes (Monday 00:00 is 0) as words: ``on Sundays
    02:00-08:00``, or ``from Saturdays 20:00 to Sundays 08:00`` across midnight."""
    day_lo, min_lo = divmod(lo, 24 * 60)
    day_hi, min_hi = divmod(hi, 24 * 60)
    if min_hi == 0 and day_hi == day_lo + 1:
        day_hi, min_hi = day_lo, 24 * 60
    first = _DAY_NAMES[day_lo % 7] + "s"
    if day_hi == day_lo:
        return f"on {first} {_clock(min_lo)}-{_clock(min_hi)}"
    return f"from {first} {_clock(min_lo)} to {_DAY_NAMES[day_hi % 7]}s {_clock(min_hi)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span_dates(lo: datetime, hi: datetime) -> str:
    if hi.date() == lo.date() or hi == _midnight(lo.date() + DAY):
        end = "24:00" if hi.date() != lo.date() else f"{hi:%H:%M}"
        return f"{lo:%a %Y-%m-%d %H:%M}-{end}"
    return f"{lo:%a %Y-%m-%d %H:%M} to {hi:%a %Y-%m-%d %H:%M}"


def _holiday_text(gap: Span, clocks: list[DeskClock], role: str) -> str:
    """The gap in words, with the holidays that close the desks that would cover it."""
    lo, hi = gap
    kept = []
    for clock in clocks:
        names = []
        day = clock.local_date(lo) - DAY
        while day <= clock.local_date(hi):
            if _closes(clock, role, day, gap):
                names.append(str(clock.holiday(day)))
            day += DAY
        if names:
            kept.append(f"{clock.name} keeps {' and '.join(dict.fromkeys(names))}")
    why = f" ({'; '.join(kept)})" if kept else ""
    return f"on {_span_dates(lo, hi)} UTC{why}"


def _closes(clock: DeskClock, role: str, day: date, gap: Span) -> bool:
    """Whether a shift of ``clock`` that has someone on call for ``role`` would cover part
    of ``gap`` from local date ``day``, but for the desk's holiday."""
    for entry in clock.desk.oncall:
        shift = clock.shift(entry.shift)
        if entry.role != role or shift is None or not in_force(entry, day):
            continue
        if clock.runs(shift, day, holidays=False) and not clock.runs(shift, day):
            start, end = clock.span(shift, day)
            if start < gap[1] and gap[0] < end:
                return True
    return False
