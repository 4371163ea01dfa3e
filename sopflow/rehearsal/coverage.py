"""Rehearsal coverage: per SOP version and region, the steps and branches no rehearsal reached.

A step is *reached* when it started in some rehearsal. A *branch* is a place where the
procedure can go more than one way, and each way is counted on its own:

- a step with ``when``: ``runs`` / ``skipped``;
- a decision: each distinct target (``-> step``, or ``-> next`` for the following step);
- an approval: ``approved`` / ``rejected``;
- a disclosure check: each decision its policy's rules can give;
- a wait for an event with a timeout: ``received`` / ``timeout``;
- a task or approval with an escalation chain: ``escalated`` (an SLA breach escalated);
  with ``on_timeout`` fail or goto: ``sla spent``.

Taken branches are read from the incident's final state, path and timeline. A decision
inside a loop is credited with every pass: its last output, and the step that followed it
in the path each time it ran (a label that names no branch of it is dropped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import assert_never

from sopflow.contract.messages import IncidentState
from sopflow.contract.plan import (
    OTHER_OUTCOME,
    ApprovalPlan,
    DecisionPlan,
    DisclosureCheckPlan,
    EndPlan,
    NotifyPlan,
    OpenIncidentPlan,
    ParallelPlan,
    Plan,
    PlanStep,
    PostmortemPlan,
    TaskPlan,
    TriagePlan,
    WaitPlan,
    possible_outcomes,
)

PlanKey = tuple[str, int, str]


@dataclass
class PlanCoverage:
    """What the rehearsals of one plan reached, and what they left out."""

    sop: str
    version: int
    region: str
    rehearsals: int = 0
    steps: list[str] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)
    branches: list[tuple[str, str]] = field(default_factory=list)
    taken: set[tuple[str, str]] = field(default_factory=set)
    # Branches the SOP says no rehearsal can take, with why (a decision's `not_rehearsed`).
    on_purpose: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.sop}@{self.version} ({self.region})"

    @property
    def unreached(self) -> list[str]:
        return [s for s in self.steps if s not in self.reached]

    @property
    def untaken(self) -> list[tuple[str, str]]:
        return [b for b in self.branches if b not in self.taken and b not in self.on_purpose]

    @property
    def exempt(self) -> list[tuple[str, str, str]]:
        """(step, branch, why) for each branch not taken on purpose."""
        return [(s, b, why) for (s, b), why in self.on_purpose.items() if (s, b) not in self.taken]

    def as_json(self) -> dict[str, object]:
        return {
            "sop": self.sop,
            "version": self.version,
            "region": self.region,
            "rehearsals": self.rehearsals,
            "steps": {"total": len(self.steps), "reached": len(self.steps) - len(self.unreached)},
            "branches": {
                "total": len(self.branches),
                "taken": len(self.branches) - len(self.untaken) - len(self.exempt),
                "not_rehearsed": len(self.exempt),
            },
            "steps_not_reached": self.unreached,
            "branches_not_taken": [f"{s}: {label}" for s, label in self.untaken],
            "branches_not_rehearsed": [
                {"branch": f"{s}: {label}", "why": why} for s, label, why in self.exempt
            ],
        }


def branches_of(plan: Plan) -> list[tuple[str, str]]:
    """Every (step, way) the plan can go, in step order."""
    out: list[tuple[str, str]] = []
    for step in plan.steps_by_id().values():
        labels = _labels(step, plan)
        out += [(step.id, label) for label in dict.fromkeys(labels)]
    return out


def not_rehearsed(plan: Plan) -> dict[tuple[str, str], str]:
    """The decision branches the SOP says no rehearsal can take, with why."""
    return {
        (step.id, f"-> {b.goto or 'next'}"): b.not_rehearsed
        for step in plan.steps_by_id().values()
        if isinstance(step, DecisionPlan)
        for b in step.branches
        if b.not_rehearsed
    }


def _labels(step: PlanStep, plan: Plan) -> list[str]:
    labels = ["runs", "skipped"] if step.when else []
    match step:
        case DecisionPlan():
            labels += [f"-> {b.goto or 'next'}" for b in step.branches]
        case ApprovalPlan():
            labels += ["approved", "rejected", *_sla_labels(step)]
        case TaskPlan():
            labels += _sla_labels(step)
        case DisclosureCheckPlan():
            labels += [rule.decision for rule in plan.policies[step.policy].rules]
        case WaitPlan():
            if step.event is not None and step.timeout_s is not None:
                labels += ["received", "timeout"]
        case OpenIncidentPlan():
            labels += list(possible_outcomes(step))
        case TriagePlan() | NotifyPlan() | ParallelPlan() | PostmortemPlan() | EndPlan():
            pass
        case _:
            assert_never(step)
    return labels


def _sla_labels(step: TaskPlan | ApprovalPlan) -> list[str]:
    labels = ["escalated"] if step.escalate else []
    return labels + (["sla spent"] if step.on_timeout.action != "escalate" else [])


def taken_in(state: IncidentState) -> tuple[set[str], set[tuple[str, str]]]:
    """The steps one incident reached and the branches it took."""
    reached = {sid for sid, s in state.steps.items() if s.starts > 0}
    taken = {(sid, "runs") for sid in reached}
    for sid, s in state.steps.items():
        output = s.output if isinstance(s.output, dict) else {}
        if s.type == "decision" and s.starts > 0 and "goto" in output:
            taken.add((sid, f"-> {output['goto'] or 'next'}"))
    for sid, following in zip(state.path, state.path[1:], strict=False):
        if state.steps.get(sid) is not None and state.steps[sid].type == "decision":
            taken.add((sid, f"-> {following}"))
    timeouts: dict[str, int] = {}
    for entry in state.timeline:
        step, kind = entry.step, entry.kind
        if step is None:
            continue
        if kind == "step.skipped":
            taken.add((step, "skipped"))
        elif kind.startswith(("approval.", "disclosure.")):
            taken.add((step, kind.split(".", 1)[1]))
        elif kind == "link.closed":
            taken.add((step, LINK_PREFIX + entry.detail.split(":", 1)[0]))
        elif kind == "wait.timeout":
            taken.add((step, "timeout"))
            timeouts[step] = timeouts.get(step, 0) + 1
        elif kind == "sla.breached":
            spent = entry.detail.startswith("escalation chain spent")
            taken.add((step, "sla spent" if spent else "escalated"))
    for sid in reached:
        if state.path.count(sid) > timeouts.get(sid, 0):
            taken.add((sid, "received"))
    return reached, taken


# A linked incident's outcome, as the timeline gives it, before it is known which branch
# of the step's `on` (or `otherwise`) it took.
LINK_PREFIX = "link:"


def _routed(taken: set[tuple[str, str]], plan: Plan) -> set[tuple[str, str]]:
    """Linked incidents' outcomes as the branches they took: an outcome `on` names, else
    `otherwise`."""
    steps = plan.steps_by_id()
    out = set()
    for sid, label in taken:
        if label.startswith(LINK_PREFIX):
            outcome = label.removeprefix(LINK_PREFIX)
            step = steps.get(sid)
            label = outcome if step is not None and outcome in step.on else OTHER_OUTCOME
        out.add((sid, label))
    return out


def coverage(
    plans: dict[PlanKey, Plan], runs: Iterable[tuple[PlanKey, IncidentState]]
) -> list[PlanCoverage]:
    """Coverage of each plan in ``plans`` by the rehearsal runs given as (plan key, state)."""
    report = {
        key: PlanCoverage(
            key[0],
            key[1],
            key[2],
            steps=list(plan.steps_by_id()),
            branches=branches_of(plan),
            on_purpose=not_rehearsed(plan),
        )
        for key, plan in plans.items()
    }
    for key, state in runs:
        entry = report.get(key)
        if entry is None:
            continue
        reached, taken = taken_in(state)
        taken = _routed(taken, plans[key])
        entry.rehearsals += 1
        entry.reached |= reached
        entry.taken |= {b for b in taken if b in entry.branches}
    return [report[k] for k in sorted(report)]
