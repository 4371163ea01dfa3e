"""The metrics of a set of incidents: pure functions of their facts, no Temporal.

Incidents are grouped by the chosen dimensions (SOP, version, region, severity); steps,
approvals and disclosures by those and their own keys. Durations are in seconds; every
spread is nearest-rank p50 and p90 (a value that occurred, never an interpolation) and max.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sopflow.client.metrics.cause_groups import CauseGroup, cause_groups
from sopflow.client.metrics.causes import ReviewFacts
from sopflow.client.metrics.facts import IncidentFacts, StepFacts

Dimension = Literal["sop", "version", "region", "severity"]
DIMENSIONS: tuple[Dimension, ...] = ("sop", "version", "region", "severity")
RUNNING = "running"
NONE = "-"  # a dimension the incident has no value for (no severity yet)

K = TypeVar("K")
V = TypeVar("V")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spread(_Frozen):
    """How many values, and their p50, p90 and max (seconds; None when there are none)."""

    n: int = 0
    p50: float | None = None
    p90: float | None = None
    max: float | None = None


class IncidentGroup(_Frozen):
    """Incidents of one group: by outcome (``running`` for those still open)."""

    key: dict[str, str]
    incidents: int
    outcomes: dict[str, int]
    unreadable: int = 0  # known from visibility only: counted, not timed
    first_action: Spread
    no_action: int = 0  # readable incidents nobody has acted on yet
    close: Spread
    escalations: int = 0
    repages: int = 0


class StepGroup(_Frozen):
    """One step of one group: its SLA attainment, breaches and escalations."""

    key: dict[str, str]
    step: str
    desk: str
    met: int  # done with no SLA breach
    breached: int  # missed its SLA at least once (whatever happened next)
    open: int  # active and not yet breached: not judged
    attainment: float | None  # met / (met + breached)
    breaches: int  # every missed deadline, repages included
    escalations: int
    repages: int
    chains_spent: int


class ApprovalGroup(_Frozen):
    """One approval step of one group: decisions and time to quorum (approved only)."""

    key: dict[str, str]
    step: str
    decided: int
    approved: int
    rejected: int
    reject_votes: int
    time_to_quorum: Spread


class DisclosureGroup(_Frozen):
    """Disclosure decisions of one group, per policy, decision and legal basis."""

    key: dict[str, str]
    policy: str
    decision: str
    basis: str
    count: int


class RefusalGroup(_Frozen):
    """How many actions of one kind were refused for one cause, in one group of incidents
    (``-`` throughout the key for an incident outside the window's listing, or none named).
    Counted from the API's log (``refusals``), as a refusal leaves no history."""

    key: dict[str, str]
    action: str
    cause: str
    count: int


class Metrics(_Frozen):
    """Everything ``sopflow metrics`` shows for one window."""

    since: datetime | None = None
    until: datetime | None = None
    by: list[str]
    incidents: int
    groups: list[IncidentGroup] = Field(default_factory=list)
    steps: list[StepGroup] = Field(default_factory=list)
    approvals: list[ApprovalGroup] = Field(default_factory=list)
    disclosures: list[DisclosureGroup] = Field(default_factory=list)
    refusals: list[RefusalGroup] = Field(default_factory=list)
    refusal_logs_read: bool = False  # False: no API log given, so refusals are not counted
    # Repeat causes: the root causes of the post-mortem reviews of these incidents.
    reviews: int = 0  # reviews read
    reviews_with_cause: int = 0  # of those, with a root cause recorded
    reviews_unreadable: int = 0  # listed, but no worker answered for them: not counted
    causes: list[CauseGroup] = Field(default_factory=list)


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty): the smallest value with at
    least ``percent`` % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> Spread:
    """p50, p90 and max of ``values`` (seconds)."""
    if not values:
        return Spread()
    return Spread(
        n=len(values),
        p50=nearest_rank(values, 50),
        p90=nearest_rank(values, 90),
        max=max(values),
    )


def key_of(facts: IncidentFacts, by: Sequence[Dimension]) -> tuple[str, ...]:
    """The incident's group: its value of each dimension, ``-`` for none."""
    values = {
        "sop": facts.sop,
        "version": None if facts.version is None else str(facts.version),
        "region": facts.region,
        "severity": facts.severity,
    }
    return tuple(values[d] or NONE for d in by)


def _grouped(items: Iterable[tuple[K, V]]) -> dict[K, list[V]]:
    out: dict[K, list[V]] = defaultdict(list)
    for key, value in items:
        out[key].append(value)
    return dict(sorted(out.items(), key=lambda kv: repr(kv[0])))


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def compute(
    incidents: Iterable[IncidentFacts],
    by: Sequence[Dimension] = DIMENSIONS,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    reviews: Iterable[ReviewFacts] = (),
) -> Metrics:
    """The metrics of ``incidents``, grouped by ``by``. Only incidents opened in
    [``since``, ``until``) count (either bound may be open), and only the ``reviews`` of
    those incidents."""
    chosen = [f for f in incidents if in_window(f.opened_at, since, until)]
    groups = _grouped((key_of(f, by), f) for f in chosen)

    def labelled(key: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(by, key, strict=True))

    keys = {f.id: labelled(key_of(f, by)) for f in chosen}
    counted = [r for r in reviews if r.incident_id in keys]

    return Metrics(
        since=since,
        until=until,
        by=list(by),
        incidents=len(chosen),
        groups=[_incident_group(labelled(k), fs) for k, fs in groups.items()],
        steps=[s for k, fs in groups.items() for s in _step_groups(labelled(k), fs)],
        approvals=[a for k, fs in groups.items() for a in _approval_groups(labelled(k), fs)],
        disclosures=[d for k, fs in groups.items() for d in _disclosures(labelled(k), fs)],
        reviews=len(counted),
        reviews_with_cause=sum(r.cause for r in counted),
        causes=cause_groups(counted, keys),
    )


def in_window(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    """Whether ``at`` falls in [since, until)."""
    return (since is None or at >= since) and (until is None or at < until)


def _incident_group(key: dict[str, str], facts: list[IncidentFacts]) -> IncidentGroup:
    readable = [f for f in facts if f.readable]
    firsts = _values(readable, lambda f: _seconds(f.opened_at, f.first_action_at))
    closes = _values(readable, lambda f: _seconds(f.opened_at, f.closed_at))
    outcomes = Counter(RUNNING if f.status == RUNNING else (f.outcome or f.status) for f in facts)
    return IncidentGroup(
        key=key,
        incidents=len(facts),
        outcomes=dict(sorted(outcomes.items())),
        unreadable=len(facts) - len(readable),
        first_action=spread(firsts),
        no_action=sum(f.first_action_at is None for f in readable),
        close=spread(closes),
        escalations=sum(s.escalations for f in facts for s in f.steps),
        repages=sum(s.repages for f in facts for s in f.steps),
    )


def _values(
    facts: Iterable[IncidentFacts], measure: Callable[[IncidentFacts], float | None]
) -> list[float]:
    return [v for f in facts if (v := measure(f)) is not None]


def _step_groups(key: dict[str, str], facts: list[IncidentFacts]) -> list[StepGroup]:
    per_step = _grouped(
        ((s.id, s.desk or f.region or NONE), s) for f in facts for s in f.steps if s.has_sla
    )
    return [_step_group(key, step, desk, steps) for (step, desk), steps in per_step.items()]


def _step_group(key: dict[str, str], step: str, desk: str, steps: list[StepFacts]) -> StepGroup:
    met = sum(s.status == "done" and s.breaches == 0 for s in steps)
    breached = sum(s.breaches > 0 for s in steps)
    judged = met + breached
    return StepGroup(
        key=key,
        step=step,
        desk=desk,
        met=met,
        breached=breached,
        open=sum(s.status == "active" and s.breaches == 0 for s in steps),
        attainment=met / judged if judged else None,
        breaches=sum(s.breaches for s in steps),
        escalations=sum(s.escalations for s in steps),
        repages=sum(s.repages for s in steps),
        chains_spent=sum(s.chain_spent for s in steps),
    )


def _approval_groups(key: dict[str, str], facts: list[IncidentFacts]) -> list[ApprovalGroup]:
    per_step = _grouped((a.step, a) for f in facts for a in f.approvals)
    out: list[ApprovalGroup] = []
    for step, decided in per_step.items():
        approved = [a for a in decided if a.outcome == "approved"]
        quorum = [(a.decided_at - a.started_at).total_seconds() for a in approved]
        out.append(
            ApprovalGroup(
                key=key,
                step=step,
                decided=len(decided),
                approved=len(approved),
                rejected=sum(a.outcome == "rejected" for a in decided),
                reject_votes=sum(a.reject_votes for a in decided),
                time_to_quorum=spread(quorum),
            )
        )
    return out


def _disclosures(key: dict[str, str], facts: list[IncidentFacts]) -> list[DisclosureGroup]:
    counts = Counter((d.policy, d.decision, d.basis) for f in facts for d in f.disclosures)
    return [
        DisclosureGroup(key=key, policy=p, decision=d, basis=b, count=n)
        for (p, d, b), n in sorted(counts.items())
    ]
