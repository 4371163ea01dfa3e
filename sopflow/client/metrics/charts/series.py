"""Incidents bucketed by when they were opened, and time to first action per desk and bucket:
the data of the time-series chart. Pure: facts in, numbers out.

A bucket is a UTC day, or an ISO week (Monday 00:00 UTC) when the window is longer than
60 days, so a chart has at most about 60 points a line whatever the window. An incident's
desk is its region (the desk that opened it; a step that follows the sun may move, the
incident does not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sopflow.client.metrics.compute import NONE, in_window, nearest_rank
from sopflow.client.metrics.facts import IncidentFacts

Granularity = Literal["day", "week"]
WEEKLY_AFTER = timedelta(days=60)
_STEP = {"day": timedelta(days=1), "week": timedelta(weeks=1)}


def granularity(since: datetime, until: datetime) -> Granularity:
    """``day`` for windows of up to 60 days, ``week`` beyond."""
    return "week" if until - since > WEEKLY_AFTER else "day"


def bucket_start(at: datetime, size: Granularity) -> datetime:
    """The start of the bucket holding ``at``: midnight UTC of its day, or of the Monday
    of its ISO week."""
    utc = at.astimezone(UTC)
    day = datetime(utc.year, utc.month, utc.day, tzinfo=UTC)
    return day - timedelta(days=day.weekday()) if size == "week" else day


def bucket_starts(since: datetime, until: datetime, size: Granularity) -> list[datetime]:
    """Every bucket that overlaps [since, until), in order (empty when until <= since)."""
    if until <= since:
        return []
    out, at = [], bucket_start(since, size)
    while at < until:
        out.append(at)
        at += _STEP[size]
    return out


def bucketed(
    facts: Iterable[IncidentFacts], since: datetime, until: datetime, size: Granularity
) -> dict[datetime, list[IncidentFacts]]:
    """The incidents opened in [since, until), by the bucket of their ``opened_at``: every
    bucket of the window is a key (an empty list for a bucket nobody opened anything in),
    in order, and each bucket's incidents keep their order."""
    out: dict[datetime, list[IncidentFacts]] = {b: [] for b in bucket_starts(since, until, size)}
    for f in facts:
        if in_window(f.opened_at, since, until):
            out[bucket_start(f.opened_at, size)].append(f)
    return out


@dataclass(frozen=True, slots=True)
class Point:
    """One desk's time to first action in one bucket: ``opened`` incidents, ``acted`` of
    them with a first action (the values), their nearest-rank p50 and p90 in seconds
    (None when none was acted on)."""

    start: datetime
    opened: int
    acted: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class DeskSeries:
    """One desk's points, one per bucket of the window, in order."""

    desk: str
    points: tuple[Point, ...]

    @property
    def opened(self) -> int:
        """Incidents the desk opened in the window."""
        return sum(p.opened for p in self.points)

    @property
    def acted(self) -> int:
        """Of those, the ones somebody acted on."""
        return sum(p.acted for p in self.points)


@dataclass(frozen=True, slots=True)
class Series:
    """The chart's data: the bucket size, every bucket's start, and one line per desk
    (desks in name order; ``-`` for incidents with no region)."""

    size: Granularity
    buckets: tuple[datetime, ...]
    desks: tuple[DeskSeries, ...]


def _point(start: datetime, facts: list[IncidentFacts]) -> Point:
    values = [
        (f.first_action_at - f.opened_at).total_seconds()
        for f in facts
        if f.readable and f.first_action_at is not None
    ]
    if not values:
        return Point(start, len(facts), 0, None, None)
    return Point(start, len(facts), len(values), nearest_rank(values, 50), nearest_rank(values, 90))


def first_action_series(
    facts: Iterable[IncidentFacts],
    since: datetime,
    until: datetime,
    size: Granularity | None = None,
) -> Series:
    """Time to first action per desk (the incident's region) and bucket of ``opened_at``,
    over the incidents opened in [since, until). Unreadable incidents and those nobody has
    acted on count in ``opened`` only, as in ``compute``."""
    chosen = size or granularity(since, until)
    per_desk: dict[str, list[IncidentFacts]] = {}
    for f in facts:
        per_desk.setdefault(f.region or NONE, []).append(f)
    starts = tuple(bucket_starts(since, until, chosen))
    lines = []
    for desk in sorted(per_desk):
        buckets = bucketed(per_desk[desk], since, until, chosen)
        if any(buckets.values()):
            lines.append(DeskSeries(desk, tuple(_point(b, fs) for b, fs in buckets.items())))
    return Series(chosen, starts, tuple(lines))
