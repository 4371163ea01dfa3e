"""The time window of ``sopflow metrics``: ``--since`` and ``--until`` as ISO dates, times
or durations back from now, and the visibility query that lists its incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sopflow.language.durations import DurationError, parse_duration


class WindowError(ValueError):
    """A bound that is neither an ISO date or time nor a duration."""


@dataclass(frozen=True, slots=True)
class Window:
    """Incidents opened in [since, until); ``until`` None: up to now and on."""

    since: datetime
    until: datetime | None = None


def parse_bound(text: str, now: datetime) -> datetime:
    """A window bound: ``30d``/``12h``/``P2W`` back from ``now``, an ISO date (midnight
    UTC) or an ISO time (UTC when it names no offset)."""
    value = text.strip()
    try:
        return now - timedelta(seconds=parse_duration(value))
    except DurationError:
        pass  # not a duration: a date or a time, below
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(
            f"{text!r} is neither an ISO date or time (2026-01-31, 2026-01-31T09:00Z) "
            "nor a duration back from now (30d, 12h)"
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def window_of(since: str, until: str | None, now: datetime) -> Window:
    """The window ``--since``/``--until`` name; WindowError when ``until`` is not later."""
    start = parse_bound(since, now)
    end = None if until is None else parse_bound(until, now)
    if end is not None and end <= start:
        raise WindowError(f"--until ({stamp(end)}) must be later than --since ({stamp(start)})")
    return Window(start, end)


def stamp(at: datetime) -> str:
    """UTC, to the second, with a ``Z`` (visibility's datetime literal)."""
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def runs_query(window: Window) -> str:
    """Every run that started in the window, continued runs included: an incident's first
    run starts when it is opened, so this finds every incident opened in the window (and a
    few opened before it that continued as new in it, which the facts' open time drops)."""
    query = f"StartTime >= '{stamp(window.since)}'"
    if window.until is not None:
        query += f" AND StartTime < '{stamp(window.until)}'"
    return query
