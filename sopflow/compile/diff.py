"""Compare two compiled plans: steps added, removed and changed, field by field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sopflow.contract.plan import Plan

_IGNORED_TOP = {"plan_hash", "steps"}


@dataclass(slots=True)
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # step id -> [(field path, old, new)]
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)
    # top-level changes (roles, input schema, defaults, policies...)
    top: list[tuple[str, Any, Any]] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.top or self.moved)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "moved": self.moved,
            "changed": {
                k: [{"field": f, "old": o, "new": n} for f, o, n in v]
                for k, v in self.changed.items()
            },
            "top": [{"field": f, "old": o, "new": n} for f, o, n in self.top],
        }


_MISSING = object()


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def _field_changes(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, prefix, a)
    _flatten(new, prefix, b)
    changes = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key, _MISSING), b.get(key, _MISSING)
        if {id(left), id(right)} <= {id(_MISSING), id(None)}:
            continue  # absent on one side and null on the other: no change
        if left != right:
            changes.append(
                (key, None if left is _MISSING else left, None if right is _MISSING else right)
            )
    return changes


def _steps_by_id(steps: list[dict[str, Any]], out: dict[str, dict[str, Any]]) -> list[str]:
    order = []
    for step in steps:
        shallow = dict(step)
        if step.get("type") == "parallel":
            shallow["branches"] = [
                {"name": b["name"], "steps": [s["id"] for s in b["steps"]]}
                for b in step["branches"]
            ]
            for branch in step["branches"]:
                order += _steps_by_id(branch["steps"], out)
        out[step["id"]] = shallow
        order.insert(len(order), step["id"])
    return order


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """What changed from ``old`` to ``new``."""
    a_data = old.model_dump(mode="json")
    b_data = new.model_dump(mode="json")
    result = PlanDiff()
    a_steps: dict[str, dict[str, Any]] = {}
    b_steps: dict[str, dict[str, Any]] = {}
    a_order = _steps_by_id(a_data["steps"], a_steps)
    b_order = _steps_by_id(b_data["steps"], b_steps)
    result.removed = [s for s in a_order if s not in b_steps]
    result.added = [s for s in b_order if s not in a_steps]
    for step_id in b_order:
        if step_id in a_steps:
            changes = _field_changes(a_steps[step_id], b_steps[step_id])
            if changes:
                result.changed[step_id] = changes
    common_a = [s for s in a_order if s in b_steps]
    common_b = [s for s in b_order if s in a_steps]
    if common_a != common_b:
        result.moved = [s for i, s in enumerate(common_b) if common_a[i] != s]
    for key in sorted((set(a_data) | set(b_data)) - _IGNORED_TOP):
        result.top += _field_changes(a_data.get(key), b_data.get(key), key)
    return result


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def render_diff(diff: PlanDiff, old_name: str, new_name: str) -> str:
    """A readable report, one line per change."""
    if diff.empty:
        return f"{old_name} and {new_name} compile to the same procedure.\n"
    lines = [f"--- {old_name}", f"+++ {new_name}"]
    lines += [f"+ step {s}" for s in diff.added]
    lines += [f"- step {s}" for s in diff.removed]
    if diff.moved:
        lines.append(f"~ order changed: {', '.join(diff.moved)}")
    for step_id, changes in diff.changed.items():
        lines.append(f"~ step {step_id}")
        lines += [f"    {f}: {_show(o)} -> {_show(n)}" for f, o, n in changes]
    for f, o, n in diff.top:
        lines.append(f"~ {f}: {_show(o)} -> {_show(n)}")
    return "\n".join(lines) + "\n"
