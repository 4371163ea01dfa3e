"""Flow checks: where control can go from each step, what no path reaches, what no path
leaves, and rules that can never match.

Each list of steps (the top level, and each parallel branch) is a graph of its own: jumps stay
inside their list, and falling off the end of a list finishes the incident (top level) or the
branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective
from sopflow.language.models.step_parts import END
from sopflow.language.models.steps import (
    DecisionStep,
    DisclosureCheckStep,
    EndStep,
    HumanStep,
    NotifyStep,
    OpenIncidentStep,
    ParallelStep,
    PostmortemStep,
    Step,
    StepBase,
    TriageStep,
    WaitStep,
)

FAIL = "<fail>"  # the incident fails here (a decision with no match, an SLA chain set to fail)


def jumps(step: Step) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every (field path, target) by which ``step`` names another step."""
    if step.next_ is not None:
        yield ("next",), step.next_
    for outcome, target in step.outcome_map().items():
        yield ("on", outcome), target
    match step:
        case HumanStep():
            if not isinstance(step.on_timeout, str):
                yield ("on_timeout", "goto"), step.on_timeout.goto
        case DecisionStep():
            for i, branch in enumerate(step.branches):
                yield ("branches", i, "goto"), branch.goto
        case (
            TriageStep()
            | DisclosureCheckStep()
            | NotifyStep()
            | WaitStep()
            | ParallelStep()
            | PostmortemStep()
            | OpenIncidentStep()
            | EndStep()
        ):
            pass
        case _:
            assert_never(step)


def successors(steps: list[Step], index: int) -> list[str]:
    """Where control can go right after ``steps[index]``: step ids, END or FAIL."""
    step = steps[index]
    following = steps[index + 1].id if index + 1 < len(steps) else END
    out: list[str] = []
    match step:
        case EndStep():
            out.append(END)
        case DecisionStep():
            out += [b.goto for b in step.branches]
            if all(b.when is not None for b in step.branches):
                out.append(FAIL)
        case HumanStep():
            out += _routes(step, following)
            if step.on_timeout == "fail":
                out.append(FAIL)
            elif not isinstance(step.on_timeout, str):
                out.append(step.on_timeout.goto)
        case (
            TriageStep()
            | DisclosureCheckStep()
            | NotifyStep()
            | WaitStep()
            | ParallelStep()
            | PostmortemStep()
            | OpenIncidentStep()
        ):
            out += _routes(step, following)
        case _:
            assert_never(step)
    if step.when is not None:
        out.append(following)  # a skipped step continues with the following one
    return out


def _routes(step: StepBase, following: str) -> list[str]:
    """Where ``step``'s outcomes lead: its `on` map, and its `next` (else the following
    step) for the outcomes `on` leaves unmapped, or when it has none."""
    mapped = step.outcome_map()
    possible = step.possible_outcomes()
    out = [mapped[o] for o in possible if o in mapped]
    if not possible or any(o not in mapped for o in possible):
        out.append(step.next_ or following)
    return out


def step_lists(steps: list[Step]) -> Iterator[list[Step]]:
    """The top-level list and every parallel branch's list, depth first."""
    yield steps
    for step in steps:
        if isinstance(step, ParallelStep):
            for branch in step.branches:
                yield from step_lists(list(branch.steps))


def _graph(holder: list[Step]) -> dict[str, list[str]]:
    return {step.id: successors(holder, i) for i, step in enumerate(holder)}


def _reach(graph: dict[str, list[str]], start: str) -> set[str]:
    seen = {start}
    queue = [start]
    while queue:
        for nxt in graph.get(queue.pop(), []):
            if nxt in graph and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reachable_from(steps: list[Step], step_id: str) -> set[str]:
    """The steps control can reach from ``step_id`` (itself included), within the list of
    steps (the top level or a parallel branch) that holds it; empty if none holds it."""
    for holder in step_lists(steps):
        if any(step.id == step_id for step in holder):
            return _reach(_graph(holder), step_id)
    return set()


def check_reachable(eff: Effective, holder: list[Step]) -> list[Diagnostic]:
    graph = _graph(holder)
    seen = _reach(graph, holder[0].id)
    # An event handler starts the top level again from its `goto`.
    if holder == list(eff.sop.steps):
        for handler in (eff.sop.on_event or {}).values():
            if handler.goto in graph:
                seen |= _reach(graph, handler.goto)
    return [
        eff.diag(
            step.id,
            ("id",),
            "W300",
            f"step `{step.id}` is unreachable: no path from `{holder[0].id}` leads here",
        )
        for step in holder
        if step.id not in seen
    ]


def check_exits(eff: Effective, holder: list[Step]) -> list[Diagnostic]:
    """Every reachable step has a path that leaves the list (finishes or fails)."""
    graph = _graph(holder)
    reachable = _reach(graph, holder[0].id)
    if holder == list(eff.sop.steps):
        for handler in (eff.sop.on_event or {}).values():
            if handler.goto in graph:
                reachable |= _reach(graph, handler.goto)
    can_leave = {sid for sid, nexts in graph.items() if END in nexts or FAIL in nexts}
    changed = True
    while changed:
        changed = False
        for sid, nexts in graph.items():
            if sid not in can_leave and any(n in can_leave for n in nexts):
                can_leave.add(sid)
                changed = True
    stuck_ids = {s.id for s in holder if s.id in reachable and s.id not in can_leave}
    # Name the loop itself, not every step that leads into it.
    inner = {sid: [n for n in graph[sid] if n in stuck_ids] for sid in stuck_ids}
    looping = {sid for sid in stuck_ids if any(sid in _reach(inner, n) for n in inner[sid])}
    stuck = [s for s in holder if s.id in (looping or stuck_ids)]
    if not stuck:
        return []
    names = ", ".join(f"`{s.id}`" for s in stuck)
    subject = f"steps {names} loop" if len(stuck) > 1 else f"step {names} loops"
    message = f"{subject} with no way out: add a decision or an end step that leaves"
    return [eff.diag(stuck[0].id, ("id",), "E312", message)]


def check_shadowed(eff: Effective, step: Step) -> list[Diagnostic]:
    """Rules or branches after one without `when` can never match."""
    match step:
        case TriageStep():
            field, items = "rules", [r.when for r in step.rules]
        case DecisionStep():
            field, items = "branches", [b.when for b in step.branches]
        case (
            HumanStep()
            | DisclosureCheckStep()
            | NotifyStep()
            | WaitStep()
            | ParallelStep()
            | PostmortemStep()
            | OpenIncidentStep()
            | EndStep()
        ):
            return []
        case _:
            assert_never(step)
    for i, when in enumerate(items[:-1]):
        if when is None:
            message = (
                f"{field}[{i}] has no `when`, so it always matches: the {len(items) - i - 1} "
                f"after it can never be chosen; put the default last"
            )
            return [eff.diag(step.id, (field, i + 1), "W304", message)]
    return []


def check_flow(eff: Effective) -> list[Diagnostic]:
    """Reachability, exits and shadowed rules for every list of steps in the SOP."""
    out: list[Diagnostic] = []
    for holder in step_lists(list(eff.sop.steps)):
        out += check_reachable(eff, holder)
        out += check_exits(eff, holder)
        for step in holder:
            out += check_shadowed(eff, step)
    return out
