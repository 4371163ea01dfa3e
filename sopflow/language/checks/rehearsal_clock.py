"""A rehearsal action checked against the clock: the earliest simulated time its step can be
active, from the SOP's flow, where only timed waits (`wait: {for: ...}`) take time. An action
sent before that (the sum of the `after`s up to it) finds its step not active yet, and the
engine refuses it (W601, at the action).

The bound is the shortest path: decisions, skipped steps, events handled at any time and SLA
gotos all count as taking no time, so a warning is never given for a story that could work.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from sopflow.language.checks.flow import successors
from sopflow.language.durations import parse_duration
from sopflow.language.effective import Effective
from sopflow.language.models.step_parts import END
from sopflow.language.models.steps import ParallelStep, Step, WaitStep

Edge = tuple[str, int]  # (the next step, seconds on the way)


def earliest_starts(eff: Effective) -> dict[str, int]:
    """For each step, the fewest seconds after the start before it can be active."""
    edges = dict(_edges(list(eff.sop.steps), None, eff))
    first = eff.sop.steps[0].id
    best: dict[str, int] = {first: 0}
    queue = [(0, first)]
    while queue:
        spent, step_id = heapq.heappop(queue)
        if spent > best.get(step_id, spent):
            continue
        for target, cost in edges.get(step_id, []):
            if spent + cost < best.get(target, 1 << 62):
                best[target] = spent + cost
                heapq.heappush(queue, (spent + cost, target))
    return best


def _edges(
    steps: list[Step], after: str | None, eff: Effective
) -> Iterator[tuple[str, list[Edge]]]:
    """Each step's ways on within its list (and into and out of parallel branches); ``after``
    is where the end of this list leads (None at the top: the end of the incident)."""
    anywhere = [(h.goto, 0) for h in (eff.sop.on_event or {}).values()]
    for index, step in enumerate(steps):
        cost = _takes(step)
        out: list[Edge] = [
            (after, cost) if target == END and after else (target, cost)
            for target in successors(steps, index)
            if target not in (END, "<fail>") or (target == END and after)
        ]
        if isinstance(step, ParallelStep):
            lanes = [b.steps for b in step.branches]
            out += [(lane[0].id, 0) for lane in lanes]
            for lane in lanes:
                yield from _edges(list(lane), None, eff)
        yield step.id, out + anywhere


def _takes(step: Step) -> int:
    """How long a step takes at least: a timed wait its duration, anything else nothing."""
    if isinstance(step, WaitStep) and step.for_ is not None and step.when is None:
        return parse_duration(step.for_)
    return 0
