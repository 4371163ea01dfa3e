"""Refused actions by cause, from the HTTP API's log: pure, no Temporal.

A refused action leaves the incident's history untouched (that is the point of an update's
validator), so Temporal cannot count refusals. The API logs every one instead, as a JSON
line: ``api.action`` with ``outcome: refused:<cause>`` for an action the incident service
turned down, and ``api.refused`` with ``outcome: refused:<status>`` for an authentication or
authorisation the API refused itself (a missing token, a need-to-know 404). One request can
log both (a forbidden action is an ``api.action`` and, answered 403, an ``api.refused``):
every line of a request carries its ``http_request_id``, so it is counted once, by the
``api.action`` cause, which is the more precise.

Lines are read leniently: a log pipeline mixes in other processes' lines, so a line that
is not a JSON object with an ``event`` is skipped (and counted), never an error.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sopflow.client.metrics.compute import NONE, Dimension, RefusalGroup, in_window, key_of
from sopflow.client.metrics.facts import IncidentFacts

ACTION_EVENT = "api.action"
REFUSED_EVENT = "api.refused"
REFUSED_PREFIX = "refused:"
# The causes an API-level refusal's HTTP status stands for (the API refuses these itself,
# before the incident service is asked).
STATUS_CAUSES = {
    "400": "bad_request",
    "401": "unauthenticated",
    "403": "forbidden",
    "404": "not_found",
    "413": "too_large",
    "415": "unsupported_type",
    "422": "invalid",
    "429": "too_many_in_flight",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request as the log records it."""

    at: datetime
    request_id: str
    action: str
    cause: str
    incident: str | None
    precise: bool  # from ``api.action`` (the incident service's cause), not a status


@dataclass(frozen=True, slots=True)
class RefusalLog:
    """The refusals read from some log lines, and how many lines were not log events."""

    refusals: list[Refusal]
    skipped: int = 0


def read_refusals(lines: Iterable[str]) -> RefusalLog:
    """The refusals among ``lines`` (JSON lines of the API's log), one per request."""
    by_request: dict[str, Refusal] = {}
    anonymous: list[Refusal] = []
    skipped = 0
    for line in lines:
        record = _record(line)
        if record is None:
            skipped += bool(line.strip())
            continue
        refusal = refusal_of(record)
        if refusal is None:
            continue
        if not refusal.request_id:
            anonymous.append(refusal)
        elif refusal.precise or refusal.request_id not in by_request:
            by_request[refusal.request_id] = refusal
    return RefusalLog([*by_request.values(), *anonymous], skipped)


def _record(line: str) -> Mapping[str, object] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def refusal_of(record: Mapping[str, object]) -> Refusal | None:
    """The refusal one log record reports, or None (an accepted action, another event, or
    a record without a readable time)."""
    event, outcome = record.get("event"), str(record.get("outcome") or "")
    if event not in (ACTION_EVENT, REFUSED_EVENT) or not outcome.startswith(REFUSED_PREFIX):
        return None
    try:
        at = datetime.fromisoformat(str(record.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        return None
    reason = outcome.removeprefix(REFUSED_PREFIX)
    precise = event == ACTION_EVENT
    incident = record.get("incident")
    return Refusal(
        at=at,
        request_id=str(record.get("http_request_id") or record.get("request_id") or ""),
        action=str(record.get("action") or NONE),
        cause=reason if precise else STATUS_CAUSES.get(reason, f"http_{reason}"),
        incident=str(incident) if incident else None,
        precise=precise,
    )


def refusal_groups(
    log: RefusalLog,
    incidents: Iterable[IncidentFacts],
    by: Sequence[Dimension],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[RefusalGroup]:
    """The refusals made in [``since``, ``until``), counted per group of the incident they
    named (its facts), action and cause."""
    known = {f.id: key_of(f, by) for f in incidents}
    outside = tuple(NONE for _ in by)
    counts = Counter(
        (known.get(r.incident or "", outside), r.action, r.cause)
        for r in log.refusals
        if in_window(r.at, since, until)
    )
    return [
        RefusalGroup(key=dict(zip(by, key, strict=True)), action=action, cause=cause, count=n)
        for (key, action, cause), n in sorted(counts.items())
    ]
