"""What holds on every way to a step: a must-analysis over the flow of one effective SOP.

A decision branch taken means its `when` held and the earlier branches' failed; a step that
ran means its own `when` held, a step skipped that it failed. What is known at a step is what
is known on every edge into it. A step that runs again forgets what was known about it (its
output may differ the second time). An incident can also arrive at a step with nothing known:
the first step, an `on_event` handler's step and a step that running incidents of an older
version migrate to. A parallel branch starts with what is known at its parallel step.
"""

from __future__ import annotations

from collections.abc import Iterable

from sopflow.contract.conditions import facts_of, steps_read
from sopflow.language.checks.flow import successors
from sopflow.language.effective import Effective
from sopflow.language.models.steps import DecisionStep, ParallelStep, Step

# normalised condition -> (its value, the step whose branch or `when` established it)
Known = dict[str, tuple[bool, str]]
# An edge: (target, the facts it adds, the step it leaves)
Edge = tuple[str, Known, str]


def known_at(eff: Effective) -> dict[str, Known]:
    """Step id -> what is known on every way to it, for the steps some way reaches."""
    steps = list(eff.sop.steps)
    entries = {steps[0].id}
    entries |= {handler.goto for handler in (eff.sop.on_event or {}).values()}
    if eff.sop.migrates_from is not None:
        entries |= set(eff.sop.migrates_from.steps.values())
    out: dict[str, Known] = {}
    _solve(steps, {step_id: {} for step_id in entries}, out)
    return out


def _solve(holder: list[Step], starts: dict[str, Known], out: dict[str, Known]) -> None:
    """Fill ``out`` for ``holder`` (one list of steps) and the parallel branches inside it."""
    ids = {step.id for step in holder}
    edges = [edge for index in range(len(holder)) for edge in _edges(holder, index)]
    ran = {step.id: _ran(holder, step.id) for step in holder}
    known: dict[str, Known] = {k: dict(v) for k, v in starts.items() if k in ids}
    fixed = set(known)
    changed = True
    while changed:
        changed = False
        for target, adds, source in edges:
            if target not in ids or target in fixed or source not in known:
                continue
            arriving = {**_forget(known[source], ran[source]), **adds}
            merged = arriving if target not in known else _meet(known[target], arriving)
            if merged != known.get(target):
                known[target] = merged
                changed = True
    out.update(known)
    for step in holder:
        if isinstance(step, ParallelStep) and step.id in known:
            start = _forget(known[step.id], ran[step.id])
            for branch in step.branches:
                first = branch.steps[0].id
                _solve(list(branch.steps), {first: start}, out)


def _edges(holder: list[Step], index: int) -> list[Edge]:
    step = holder[index]
    targets = successors(holder, index)
    if step.when is not None:
        *targets, following = targets  # `successors` lists the skip last
        skipped = _facts(step.when, False, step.id)
        ran = _facts(step.when, True, step.id)
    else:
        following, skipped, ran = "", {}, {}
    out: list[Edge] = []
    if isinstance(step, DecisionStep):
        failed: Known = {}
        for branch in step.branches:
            if branch.when is None:
                out.append((branch.goto, {**ran, **failed}, step.id))
                break
            taken = _facts(branch.when, True, step.id)
            out.append((branch.goto, {**ran, **failed, **taken}, step.id))
            failed = {**failed, **_facts(branch.when, False, step.id)}
    else:
        out += [(target, ran, step.id) for target in targets]
    if following:
        out.append((following, skipped, step.id))
    return out


def _facts(source: str, held: bool, origin: str) -> Known:
    return {text: (value, origin) for text, value in facts_of(source, held)}


def _meet(a: Known, b: Known) -> Known:
    return {k: v for k, v in a.items() if k in b and b[k][0] == v[0]}


def _forget(known: Known, ran: Iterable[str]) -> Known:
    gone = set(ran)
    return {k: v for k, v in known.items() if not steps_read(k) & gone}


def _ran(holder: list[Step], step_id: str) -> set[str]:
    """The step ``step_id`` and, for a parallel step, every step inside it."""
    step = next(s for s in holder if s.id == step_id)
    ids = {step.id}
    if isinstance(step, ParallelStep):
        for branch in step.branches:
            for inner in branch.steps:
                ids |= _ran(list(branch.steps), inner.id)
    return ids
