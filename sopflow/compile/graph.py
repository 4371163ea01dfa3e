"""Render a compiled plan as a graph: every step, branch and outcome.

Both renderers read the same edge list, built once from the plan, so Mermaid and DOT always
agree. Shapes say what a step is: people act in rectangles, decisions are diamonds, approvals
hexagons, waits stadiums, ends circles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from sopflow.contract.plan import (
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
from sopflow.language.durations import format_duration

# Upper case: step ids are lower case, so these never collide with a step.
DONE = "DONE"
FAILED = "FAILED"
START = "START"


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: str
    shape: str  # mermaid shape key, mapped for DOT below
    group: str | None  # parallel branch it belongs to ("step/branch"), if any


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    label: str = ""
    dashed: bool = False


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _look(step: PlanStep) -> tuple[str, str | None]:
    """The step's node: its shape (a Mermaid shape key, mapped for DOT below) and the detail
    shown under its title."""
    match step:
        case TriagePlan():
            return "subroutine", None
        case TaskPlan():
            return "rect", step.assignee
        case ApprovalPlan():
            if step.requires is not None:
                return "hexagon", " + ".join(f"{r.count} {r.role}" for r in step.requires)
            return "hexagon", f"{step.quorum} of {', '.join(step.approvers)}"
        case DecisionPlan():
            return "diamond", None
        case DisclosureCheckPlan():
            return "parallelogram", f"policy {step.policy}"
        case NotifyPlan():
            whom = step.destination.name if step.destination else step.to_role or step.to_expr
            return "flag", f"{step.channel} → {whom}"
        case WaitPlan():
            return "stadium", None
        case ParallelPlan():
            return "fork", None
        case PostmortemPlan():
            return "rect", None
        case OpenIncidentPlan():
            where = f" ({step.region})" if step.region else ""
            version = f"@{step.version}" if step.version else ""
            return "subroutine", f"opens {step.sop}{version}{where}"
        case EndPlan():
            return "circle", step.outcome
        case _:
            assert_never(step)


def _label(step: PlanStep, detail: str | None) -> str:
    extra = f"\n({_short(detail)})" if detail else ""
    sla = ""
    if isinstance(step, TaskPlan | ApprovalPlan):
        sla = f"\nSLA {format_duration(step.sla_s)}"
    return f"{step.title}{extra}{sla}"


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []

    def steps(self, steps: list[PlanStep], after: str, group: str | None) -> None:
        """Add ``steps``; ``after`` is where control goes when the list ends."""
        for i, step in enumerate(steps):
            shape, detail = _look(step)
            self.nodes.append(Node(step.id, _label(step, detail), shape, group))
            following = steps[i + 1].id if i + 1 < len(steps) else after
            self.step_edges(step, following, after)

    def step_edges(self, step: PlanStep, following: str, end_of_list: str) -> None:
        def dest(target: str | None) -> str:
            return end_of_list if target is None else target

        if step.when and not isinstance(step, EndPlan):
            self.edges.append(
                Edge(step.id, following, f"skip unless {_short(step.when, 32)}", True)
            )
        match step:
            case EndPlan():
                pass  # the incident ends here
            case DecisionPlan():
                for branch in step.branches:
                    label = _short(branch.when, 40) if branch.when else "otherwise"
                    self.edges.append(Edge(step.id, dest(branch.goto), label))
                if all(b.when for b in step.branches):
                    self.edges.append(Edge(step.id, FAILED, "no branch matches", True))
            case ParallelPlan():
                join = f"{step.id}__join"
                for lane in step.branches:
                    group = f"{step.id}/{lane.name}"
                    if lane.steps:
                        self.edges.append(Edge(step.id, lane.steps[0].id, lane.name))
                    self.steps(lane.steps, join, group)
                self.nodes.append(Node(join, f"join {step.join}", "join", None))
                self.edges.append(Edge(join, dest(step.next)))
            case TaskPlan() | ApprovalPlan():
                self.outcome_edges(step, dest)
                if step.on_timeout.action == "goto":
                    self.edges.append(Edge(step.id, dest(step.on_timeout.goto), "SLA spent", True))
                if step.on_timeout.action == "fail":
                    self.edges.append(Edge(step.id, FAILED, "SLA spent", True))
            case (
                TriagePlan()
                | DisclosureCheckPlan()
                | NotifyPlan()
                | WaitPlan()
                | PostmortemPlan()
                | OpenIncidentPlan()
            ):
                self.outcome_edges(step, dest)
            case _:
                assert_never(step)

    def outcome_edges(self, step: PlanStep, dest: Callable[[str | None], str]) -> None:
        """Where each outcome of ``step`` goes (its `on` map), and its `next` for the rest."""
        mapped = dict(step.on)
        for outcome, target in sorted(mapped.items()):
            self.edges.append(Edge(step.id, dest(target), outcome))
        possible = possible_outcomes(step)
        if not possible or any(o not in mapped for o in possible):
            self.edges.append(Edge(step.id, dest(step.next), "otherwise" if mapped else ""))


def build(plan: Plan) -> tuple[list[Node], list[Edge]]:
    builder = _Builder()
    builder.nodes.append(Node(START, "start", "start", None))
    if plan.steps:
        builder.edges.append(Edge(START, plan.steps[0].id))
    builder.steps(list(plan.steps), DONE, None)
    if any(e.dst == DONE for e in builder.edges):
        builder.nodes.append(Node(DONE, "completed", "circle", None))
    if any(e.dst == FAILED for e in builder.edges):
        builder.nodes.append(Node(FAILED, "failed", "circle", None))
    return builder.nodes, builder.edges


def _mid(node_id: str) -> str:
    return "n_" + node_id.replace("_", "__").replace("-", "_h")


def _mtext(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>").replace("|", "#124;")


_MERMAID = {
    "subroutine": ('[["', '"]]'),
    "rect": ('["', '"]'),
    "hexagon": ('{{"', '"}}'),
    "diamond": ('{"', '"}'),
    "parallelogram": ('[/"', '"/]'),
    "flag": ('>"', '"]'),
    "stadium": ('(["', '"])'),
    "fork": ('[["', '"]]'),
    "join": ('(("', '"))'),
    "circle": ('(("', '"))'),
    "start": ('(["', '"])'),
}


def to_mermaid(plan: Plan) -> str:
    nodes, edges = build(plan)
    lines = ["flowchart TD", f"  %% {plan.sop.id}@{plan.sop.version} ({plan.region.code})"]
    groups: dict[str | None, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.group, []).append(node)
    for group, members in groups.items():
        indent = "  " if group is None else "    "
        if group is not None:
            lines.append(f'  subgraph {_mid(group.replace("/", "__"))}["{_mtext(group)}"]')
        for node in members:
            left, right = _MERMAID[node.shape]
            lines.append(f"{indent}{_mid(node.id)}{left}{_mtext(node.label)}{right}")
        if group is not None:
            lines.append("  end")
    for edge in edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f"|{_mtext(edge.label)}|" if edge.label else ""
        lines.append(f"  {_mid(edge.src)} {arrow}{label} {_mid(edge.dst)}")
    return "\n".join(lines) + "\n"


_DOT_SHAPES = {
    "subroutine": "box3d",
    "rect": "box",
    "hexagon": "hexagon",
    "diamond": "diamond",
    "parallelogram": "parallelogram",
    "flag": "cds",
    "stadium": "box",
    "fork": "trapezium",
    "join": "invtrapezium",
    "circle": "doublecircle",
    "start": "circle",
}


def _dtext(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(plan: Plan) -> str:
    nodes, edges = build(plan)
    lines = [
        f'digraph "{_dtext(plan.sop.id)}" {{',
        f'  label="{_dtext(plan.sop.title)} — v{plan.sop.version} ({plan.region.code})";',
        "  rankdir=TB; node [fontname=Helvetica]; edge [fontname=Helvetica, fontsize=10];",
    ]
    groups: dict[str | None, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.group, []).append(node)
    for group, members in groups.items():
        if group is not None:
            lines.append(f'  subgraph "cluster_{_dtext(group)}" {{ label="{_dtext(group)}";')
        for node in members:
            style = ', style="rounded"' if node.shape == "stadium" else ""
            shape = _DOT_SHAPES[node.shape]
            lines.append(
                f'    "{_dtext(node.id)}" [label="{_dtext(node.label)}", shape={shape}{style}];'
            )
        if group is not None:
            lines.append("  }")
    for edge in edges:
        attrs = [f'label="{_dtext(edge.label)}"'] if edge.label else []
        if edge.dashed:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'  "{_dtext(edge.src)}" -> "{_dtext(edge.dst)}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"
