"""Repeat causes: how often each contributing factor, SOP step and policy appears in the root
causes recorded on post-mortem reviews (``sopflow.contract.reviews``).

A pure function over reviews' states (read with ``sopflow.client.reviews.ReviewService.all``),
so it is tested without a server. Factors are counted case- and space-insensitively (``Late
signal`` and ``late-signal`` are one cause), since people type them; a review counts once
per cause however often it names it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sopflow.contract.reviews import ReviewState

_SEPARATORS = re.compile(r"[\s_]+")


def factor_key(text: str) -> str:
    """The form a factor is counted under: lower case, words joined by ``-``."""
    return _SEPARATORS.sub("-", text.strip().lower()).strip("-")


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


def repeat_causes(reviews: Iterable[ReviewState]) -> Causes:
    """Count the causes in ``reviews``' root causes (reviews without one are skipped)."""
    seen: dict[tuple[str, str], list[str]] = {}
    total = recorded = 0
    for review in sorted(reviews, key=lambda r: (r.opened_at, r.review_id)):
        total += 1
        cause = review.root_cause
        if cause is None:
            continue
        recorded += 1
        named = {("factor", factor_key(f)) for f in cause.factors if factor_key(f)}
        if cause.step:
            named.add(("step", f"{review.sop}/{cause.step}"))
        if cause.policy:
            named.add(("policy", cause.policy))
        for key in named:
            seen.setdefault(key, []).append(review.incident_id)
    tally = Counter({key: len(ids) for key, ids in seen.items()})
    counts = [
        CauseCount(kind, cause, n, tuple(seen[(kind, cause)]))
        for (kind, cause), n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return Causes(total, recorded, counts)
