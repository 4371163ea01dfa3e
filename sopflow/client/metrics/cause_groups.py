"""Repeat causes per group, for ``sopflow metrics``: the causes named in the root causes of
the window's incidents' reviews (``causes.count_causes``), counted over all of them, per
SOP, and per the chosen grouping (``--by``) when it is other than the SOP alone. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sopflow.client.metrics.causes import ReviewFacts, count_causes

Scope = Literal["all", "sop", "group"]


class CauseGroup(BaseModel):
    """One cause in one scope: ``all`` (every review; empty ``key``), ``sop`` (``key``:
    the SOP) or ``group`` (``key``: the incident's group of ``--by``). ``count``: how many
    reviews named it; ``incidents``: whose (oldest review first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope
    key: dict[str, str]
    kind: str  # factor | step (``sop/step``) | policy
    cause: str
    count: int
    incidents: list[str]


def cause_groups(
    reviews: Iterable[ReviewFacts], groups: Mapping[str, dict[str, str]]
) -> list[CauseGroup]:
    """The causes of ``reviews`` whose incident is in ``groups`` (incident id: its group
    key, labelled by dimension), most frequent first within each scope and key."""
    mine = [r for r in reviews if r.incident_id in groups]
    scopes: list[tuple[Scope, dict[str, str], list[ReviewFacts]]] = [("all", {}, mine)]
    scopes += [("sop", {"sop": sop}, rs) for sop, rs in _by(mine, lambda r: r.sop).items()]
    dims = next(iter(groups.values()), {})
    if list(dims) not in ([], ["sop"]):
        per_group = _by(mine, lambda r: "\x1f".join(groups[r.incident_id].values()))
        scopes += [("group", groups[rs[0].incident_id], rs) for rs in per_group.values()]
    return [
        CauseGroup(
            scope=scope,
            key=key,
            kind=c.kind,
            cause=c.cause,
            count=c.count,
            incidents=list(c.incidents),
        )
        for scope, key, rs in scopes
        for c in count_causes(rs).counts
    ]


def _by(
    reviews: list[ReviewFacts], key: Callable[[ReviewFacts], str]
) -> dict[str, list[ReviewFacts]]:
    out: dict[str, list[ReviewFacts]] = defaultdict(list)
    for r in reviews:
        out[key(r)].append(r)
    return dict(sorted(out.items()))
