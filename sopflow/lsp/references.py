"""What a document declares (steps, roles, the waits for each event) and what a value in it
refers to, for go to definition and completion."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pygls.workspace.position_codec import ServerTextRange

from sopflow.language.yaml_source import JsonPath, SourceDoc
from sopflow.lsp.cursor import Hit, entry_region, key_region, value_at
from sopflow.lsp.ranges import span

# Fields whose list items are role names.
ROLE_LISTS = frozenset(("approvers", "escalate", "restricted_to", "global_roles"))
ROLE_LISTS |= {"set_restricted_to"}
# Fields whose value is one role name (`to` of a notify step may also be an expression).
ROLE_FIELDS = frozenset(("assignee", "to"))
# Fields whose value is a step id; `step`, `after` and `before` in variant changes and
# rehearsal actions.
STEP_FIELDS = frozenset(("next", "goto", "step", "after", "before"))


class Ref(StrEnum):
    """What kind of name a value (or key) is."""

    STEP = "step"
    ROLE = "role"
    POLICY = "policy"
    EVENT = "event"
    OLD_STEP = "old_step"  # a `migrates_from.steps` key: a step of the older version


@dataclass(frozen=True, slots=True)
class Target:
    """Where a name is declared, and a word about it (a step's type, a role's description)."""

    file: Path
    region: ServerTextRange
    detail: str = ""


@dataclass(slots=True)
class Symbols:
    """The names a document can refer to."""

    steps: dict[str, Target] = field(default_factory=dict)
    roles: dict[str, Target] = field(default_factory=dict)
    waits: dict[str, list[Target]] = field(default_factory=dict)

    def merge(self, other: Symbols) -> Symbols:
        """These names, then those of ``other`` that these do not declare."""
        waits = dict(other.waits)
        waits.update(self.waits)
        return Symbols({**other.steps, **self.steps}, {**other.roles, **self.roles}, waits)


def _where(doc: SourceDoc, path: JsonPath) -> ServerTextRange:
    return entry_region(doc, path) or span(doc.pos(path).line - 1, 0, 0)


def _add_step(doc: SourceDoc, file: Path, path: JsonPath, step: Any, out: Symbols) -> None:
    if not isinstance(step, dict):
        return
    step_type = str(step.get("type", ""))
    if isinstance(step.get("id"), str):
        target = Target(file, _where(doc, (*path, "id")), step_type)
        out.steps.setdefault(step["id"], target)
        if step_type == "wait" and isinstance(step.get("event"), str):
            out.waits.setdefault(step["event"], []).append(target)
    # A parallel step's branches hold steps of their own; a decision's branches do not.
    for j, branch in enumerate(step.get("branches") or []):
        if isinstance(branch, dict) and isinstance(branch.get("steps"), list):
            _add_steps(doc, file, (*path, "branches", j, "steps"), out)


def _add_steps(doc: SourceDoc, file: Path, path: JsonPath, out: Symbols) -> None:
    steps = value_at(doc.data, path)
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        _add_step(doc, file, (*path, i), step, out)


def _add_roles(doc: SourceDoc, file: Path, path: JsonPath, out: Symbols) -> None:
    roles = value_at(doc.data, path)
    for name, spec in (roles if isinstance(roles, dict) else {}).items():
        detail = spec.get("description", "") if isinstance(spec, dict) else ""
        region = key_region(doc, (*path, name)) or _where(doc, path)
        out.roles.setdefault(name, Target(file, region, str(detail)))


def symbols_of(doc: SourceDoc, file: Path) -> Symbols:
    """The steps and roles an SOP declares, or that a variant adds (inserted steps,
    replacements, `add_roles`)."""
    out = Symbols()
    if not isinstance(doc.data, dict):
        return out
    if doc.data.get("kind") == "SOP":
        _add_steps(doc, file, ("steps",), out)
        _add_roles(doc, file, ("roles",), out)
    changes = doc.data.get("changes") if doc.data.get("kind") == "Variant" else None
    for i, change in enumerate(changes if isinstance(changes, list) else []):
        if not isinstance(change, dict):
            continue
        _add_steps(doc, file, ("changes", i, "insert", "steps"), out)
        _add_step(
            doc, file, ("changes", i, "replace", "with"), value_at(change, ("replace", "with")), out
        )
        _add_roles(doc, file, ("changes", i, "add_roles"), out)
    return out


def _value_ref(kind: str, path: JsonPath) -> Ref | None:
    last = path[-1] if path else None
    parent = path[-2] if len(path) > 1 else None
    if kind == "SOP" and len(path) == 3 and path[:2] == ("migrates_from", "steps"):
        return Ref.STEP
    if last in STEP_FIELDS or parent == "on":
        return Ref.STEP
    if kind == "Rehearsal" and path[:2] in (("expect", "path"), ("expect", "breached")):
        return Ref.STEP
    if last in ROLE_FIELDS or (parent in ROLE_LISTS and isinstance(last, int)):
        return Ref.ROLE
    if (last == "role" and len(path) > 2 and path[-3] == "requires") or (
        last == "owner" and "steps" in path
    ):
        return Ref.ROLE
    if last == "policy":
        return Ref.POLICY
    if last == "event" and (kind == "Rehearsal" or parent != "signal"):
        return Ref.EVENT
    return None


def classify(data: dict[str, Any], hit: Hit) -> Ref | None:
    """What the key or value under the cursor names, if it names anything."""
    kind = str(data.get("kind", ""))
    if not hit.is_key:
        return _value_ref(kind, hit.path)
    if kind == "SOP" and len(hit.path) == 3 and hit.path[:2] == ("migrates_from", "steps"):
        return Ref.OLD_STEP
    on_event = hit.path[-2:-1] in (("on_event",), ("set_on_event",))
    return Ref.EVENT if on_event and len(hit.path) >= 2 else None
