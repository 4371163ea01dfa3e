"""Repeat causes: how often each contributing factor, SOP step and policy appears in the root
causes recorded on post-mortem reviews (``sopflow.contract.reviews``).

Pure functions over reviews, so they are tested without a server. A review is first reduced
to its :class:`ReviewFacts` (codes only: no action item, no text, no person), which is what
``sopflow metrics`` caches by run id; ``repeat_causes`` counts reviews' states (what
``sopflow postmortem causes`` reads), ``count_causes`` their facts. Factors are counted
case- and space-insensitively (``Late signal`` and ``late-signal`` are one cause), since
people type them; a review counts once per cause however often it names it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sopflow.contract.reviews import ReviewState

_SEPARATORS = re.compile(r"[\s_]+")
# Bump when ReviewFacts' shape changes: cached files of another format are read again.
REVIEW_FACTS_FORMAT = 1


def factor_key(text: str) -> str:
    """The form a factor is counted under: lower case, words joined by ``-``."""
    return _SEPARATORS.sub("-", text.strip().lower()).strip("-")


class ReviewFacts(BaseModel):
    """One review as metrics count it: which incident and SOP, and the codes its root cause
    names (``cause`` False: none recorded yet). No text and no person, so the metrics
    cache never holds user data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["review"] = "review"  # tells a cached review from a cached incident
    format: int = REVIEW_FACTS_FORMAT
    review_id: str
    incident_id: str
    run_id: str | None = None
    sop: str
    status: str  # open | closed
    opened_at: datetime
    cause: bool = False
    factors: list[str] = Field(default_factory=list)  # as counted (``factor_key``)
    step: str | None = None
    policy: str | None = None


def review_facts(state: ReviewState, run_id: str | None = None) -> ReviewFacts:
    """The facts of one review from its state (its result, or the ``state`` query)."""
    cause = state.root_cause
    return ReviewFacts(
        review_id=state.review_id,
        incident_id=state.incident_id,
        run_id=run_id,
        sop=state.sop,
        status=state.status,
        opened_at=state.opened_at,
        cause=cause is not None,
        factors=sorted({k for f in cause.factors if (k := factor_key(f))}) if cause else [],
        step=cause.step if cause else None,
        policy=cause.policy if cause else None,
    )


def named_causes(review: ReviewFacts) -> set[tuple[str, str]]:
    """The (kind, cause) pairs a review's root cause names: each factor, its step as
    ``sop/step``, its policy."""
    named = {("factor", f) for f in review.factors}
    if review.step:
        named.add(("step", f"{review.sop}/{review.step}"))
    if review.policy:
        named.add(("policy", review.policy))
    return named


@dataclass(frozen=True, slots=True)
class CauseCount:
    """One cause and the reviews that named it (incident ids, oldest review first)."""

    kind: str  # "factor", "step" (``sop/step``) or "policy"
    cause: str
    count: int
    incidents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Causes:
    """Every cause counted, most frequent first; ``repeats`` those named more than once."""

    reviews: int  # reviews read
    with_cause: int  # of those, how many have a root cause recorded
    counts: list[CauseCount] = field(default_factory=list)

    @property
    def repeats(self) -> list[CauseCount]:
        return [c for c in self.counts if c.count > 1]


def count_causes(reviews: Iterable[ReviewFacts]) -> Causes:
    """Count the causes in ``reviews``' root causes (reviews without one are skipped)."""
    seen: dict[tuple[str, str], list[str]] = {}
    total = recorded = 0
    for review in sorted(reviews, key=lambda r: (r.opened_at, r.review_id)):
        total += 1
        if not review.cause:
            continue
        recorded += 1
        for key in named_causes(review):
            seen.setdefault(key, []).append(review.incident_id)
    tally = Counter({key: len(ids) for key, ids in seen.items()})
    counts = [
        CauseCount(kind, cause, n, tuple(seen[(kind, cause)]))
        for (kind, cause), n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return Causes(total, recorded, counts)


def repeat_causes(reviews: Iterable[ReviewState]) -> Causes:
    """Count the causes in ``reviews``' root causes (reviews without one are skipped)."""
    return count_causes(review_facts(r) for r in reviews)
