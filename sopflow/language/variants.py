"""Applying a regional variant to its base version.

Changes apply in order to a copy of the base's data; each step a change writes is validated
where the variant wrote it, then the whole result is validated as an SOP. A change that names
a missing step (or event handler), or removes a step that others (steps or `on_event`
handlers) still refer to, is reported at the change.
"""

from __future__ import annotations

from typing import Any, assert_never

from pydantic import TypeAdapter, ValidationError

from sopflow.contract.expressions import placeholders, references, syntax_problem
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, Where, from_base, step_paths
from sopflow.language.library import Loaded
from sopflow.language.models import SopDoc, Step, VariantDoc
from sopflow.language.models.common import RoleSpec
from sopflow.language.models.documents import (
    AddRolesChange,
    Change,
    Defaults,
    EventHandler,
    InsertChange,
    InsertTarget,
    RemoveChange,
    RemoveTarget,
    ReplaceChange,
    ReplaceTarget,
    SetChange,
    SetCorrelationChange,
    SetDefaultsChange,
    SetOnEventChange,
    SetRestrictedToChange,
)
from sopflow.language.validation import did_you_mean, validate_fragment
from sopflow.language.yaml_source import JsonPath, SourceDoc

_STEP = TypeAdapter(Step)
_DEFAULTS = TypeAdapter(Defaults)
_IMMUTABLE_FIELDS = ("id", "type")


def _locate(steps: list[Any], step_id: str) -> tuple[list[Any], int] | None:
    """The list holding step ``step_id`` (top level or inside a parallel branch) and its index."""
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        if step.get("id") == step_id:
            return steps, index
        if step.get("type") == "parallel":
            for branch in _list(step.get("branches")):
                inner = branch.get("steps") if isinstance(branch, dict) else None
                if isinstance(inner, list):
                    found = _locate(inner, step_id)
                    if found:
                        return found
    return None


def _copy(data: Any) -> Any:
    """A deep copy of plain YAML data (dicts, lists, scalars): several times faster than
    ``copy.deepcopy``, which matters because every variant copies its base."""
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value) for value in data]
    return data


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``change`` laid over ``base``, nested mappings merged: `set_defaults: {retry:
    {max_attempts: 3}}` keeps the base's other retry settings."""
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _list(value: Any) -> list[Any]:
    # Variant data is checked only after it is applied, so any field may hold anything.
    return value if isinstance(value, list) else []


def _ids(steps: list[Any]) -> list[str]:
    return [s["id"] for s, _ in step_paths(steps, ()) if isinstance(s.get("id"), str)]


def referrers(steps: list[Any], target: str) -> list[str]:
    """Ids of steps that name ``target`` in a jump or in an expression."""
    found = []
    for step, _ in step_paths(steps, ()):
        if step.get("id") == target:
            continue
        if target in _jump_targets(step) or target in _expr_step_refs(step):
            found.append(str(step.get("id")))
    return found


def _handler_referrers(data: dict[str, Any], target: str) -> list[str]:
    """`on_event.<event>` for each handler of the SOP that goes on from ``target``."""
    on_event = data.get("on_event")
    if not isinstance(on_event, dict):
        return []
    return [
        f"on_event.{name}"
        for name, handler in on_event.items()
        if isinstance(handler, dict) and handler.get("goto") == target
    ]


def _jump_targets(step: dict[str, Any]) -> set[str]:
    targets = {step.get("next")}
    on = step.get("on")
    if isinstance(on, dict):
        targets.update(v for v in on.values() if isinstance(v, str))
    timeout = step.get("on_timeout")
    if isinstance(timeout, dict):
        targets.add(timeout.get("goto"))
    for branch in _list(step.get("branches")) if step.get("type") == "decision" else []:
        if isinstance(branch, dict):
            targets.add(branch.get("goto"))
    return {t for t in targets if isinstance(t, str)}


def _expr_step_refs(step: dict[str, Any]) -> set[str]:
    texts: list[Any] = [step.get("when"), step.get("until"), step.get("to")]
    message = step.get("message")
    if isinstance(message, str):
        texts += [source for source, _ in placeholders(message)[0]]
    request = step.get("request")
    texts += list(request.values()) if isinstance(request, dict) else []
    for group in ("rules", "branches"):
        items = _list(step.get(group)) if step.get("type") in ("triage", "decision") else []
        texts += [i.get("when") for i in items if isinstance(i, dict)]
    found: set[str] = set()
    for text in texts:
        if isinstance(text, str) and text and syntax_problem(text) is None:
            found.update(ref[0] for ref in references(text).steps)
    return found


class _Applier:
    def __init__(self, base: Loaded[SopDoc], variant: Loaded[VariantDoc]) -> None:
        self.base = base
        self.variant = variant
        self.src: SourceDoc = variant.source
        self.data: dict[str, Any] = _copy(base.source.data)
        self.eff = from_base(base)
        self.eff.region = variant.model.region
        self.eff.variant = variant
        self.errors: list[Diagnostic] = []
        # Steps the variant wrote (the very dicts in the result), validated where written.
        self.written: list[tuple[Any, Where]] = []

    def fail(self, path: JsonPath, code: str, message: str) -> None:
        self.errors.append(self.src.diag(path, code, message))

    def find(self, step_id: Any, path: JsonPath) -> tuple[list[Any], int] | None:
        found = _locate(self.data["steps"], step_id) if isinstance(step_id, str) else None
        if found is None:
            hint = did_you_mean(str(step_id), _ids(self.data["steps"]))
            base = f"{self.base.model.id}@{self.base.model.version}"
            self.fail(path, "E501", f"no step `{step_id}` in {base}{hint}")
        return found

    def apply(self, index: int, change: Change) -> None:
        """Apply one change; diagnostics point inside ``changes[index]``."""
        match change:
            case SetChange():
                self._set(change.set, ("changes", index, "set"))
            case ReplaceChange():
                self._replace(change.replace, ("changes", index, "replace"))
            case InsertChange():
                self._insert(change.insert, ("changes", index, "insert"))
            case RemoveChange():
                self._remove(change.remove, ("changes", index, "remove"))
            case AddRolesChange():
                self._add_roles(change.add_roles)
            case SetDefaultsChange():
                self._set_defaults(change.set_defaults, ("changes", index, "set_defaults"))
            case SetRestrictedToChange():
                at = ("changes", index, "set_restricted_to")
                self.data["restricted_to"] = list(change.set_restricted_to or ())
                self.eff.sop_where["restricted_to"] = (self.src, at)
            case SetOnEventChange():
                self._set_on_event(change.set_on_event, ("changes", index, "set_on_event"))
            case SetCorrelationChange():
                at = ("changes", index, "set_correlation")
                self.data["correlation"] = change.set_correlation
                self.eff.sop_where["correlation"] = (self.src, at)
            case _:
                assert_never(change)

    def _set(self, body: dict[str, Any], at: JsonPath) -> None:
        step_id = body.get("step")
        if step_id is None:
            self.fail(at, "E204", "a `set` names the step it changes: `set: {step: <id>, ...}`")
            return
        found = self.find(step_id, (*at, "step"))
        if found is None:
            return
        holder, i = found
        for name, value in body.items():
            if name == "step":
                continue
            if name in _IMMUTABLE_FIELDS:
                self.fail(
                    (*at, name), "E205", f"`set` cannot change a step's `{name}`; use replace"
                )
                continue
            holder[i][name] = _copy(value)
            self.eff.field_where[(str(step_id), name)] = (self.src, (*at, name))
        self.written.append((holder[i], (self.src, at)))

    def _replace(self, body: ReplaceTarget, at: JsonPath) -> None:
        found = self.find(body.step, (*at, "step"))
        if found is None:
            return
        holder, i = found
        holder[i] = _copy(body.with_)
        new_id = str(body.with_.get("id"))
        self._forget(body.step)
        self.eff.step_where[new_id] = (self.src, (*at, "with"))
        self.written.append((holder[i], (self.src, (*at, "with"))))
        if new_id != body.step:
            self._dangling(body.step, (*at, "step"), "replacing")

    def _insert(self, body: InsertTarget, at: JsonPath) -> None:
        anchor = body.after or body.before
        found = self.find(anchor, (*at, "after" if body.after else "before"))
        if found is None:
            return
        holder, i = found
        position = i + 1 if body.after else i
        holder[position:position] = _copy(body.steps)
        for k, raw in enumerate(holder[position : position + len(body.steps)]):
            where = (self.src, (*at, "steps", k))
            self.written.append((raw, where))
            new_id = str(raw.get("id"))
            if new_id in self.eff.step_where:
                self.eff.repeats.append((new_id, where))
                continue
            self.eff.step_where[new_id] = where

    def _remove(self, body: RemoveTarget, at: JsonPath) -> None:
        found = self.find(body.step, (*at, "step"))
        if found is None:
            return
        holder, i = found
        del holder[i]
        if not holder:
            message = f"removing `{body.step}` leaves an empty list of steps; remove or replace "
            message += "the parallel step (or the SOP) instead"
            self.fail((*at, "step"), "E504", message)
        self._forget(body.step)
        self._dangling(body.step, (*at, "step"), "removing")

    def _add_roles(self, body: dict[str, RoleSpec]) -> None:
        roles = self.data.setdefault("roles", {})
        for name, spec in body.items():
            roles[name] = spec.model_dump()

    def _set_defaults(self, body: dict[str, Any], at: JsonPath) -> None:
        merged = _merge(self.data.get("defaults", {}), _copy(body))
        _, problems = validate_fragment(_DEFAULTS, merged, self.src, at)
        self.errors.extend(problems)
        if not problems:
            self.data["defaults"] = merged

    def _set_on_event(self, body: dict[str, EventHandler | None], at: JsonPath) -> None:
        """Each entry replaces the handler for its event; null removes the base's. Where a
        handler goes on from is checked on the result (E301), at the entry that wrote it."""
        handlers = self.data.get("on_event")
        handlers = dict(handlers) if isinstance(handlers, dict) else {}
        for name, handler in body.items():
            if handler is not None:
                handlers[name] = handler.model_dump()
            elif name in handlers:
                del handlers[name]
            else:
                hint = did_you_mean(name, sorted(handlers))
                base = f"{self.base.model.id}@{self.base.model.version}"
                message = f"no `on_event` handler for `{name}` in {base} to remove{hint}"
                self.errors.append(self.src.diag((*at, name), "E505", message, key=True))
        if handlers:
            self.data["on_event"] = handlers
        else:  # no handler left: the plan is exactly one without `on_event`
            self.data.pop("on_event", None)

    def _forget(self, step_id: str) -> None:
        self.eff.step_where.pop(step_id, None)
        for key in [k for k in self.eff.field_where if k[0] == step_id]:
            del self.eff.field_where[key]

    def _dangling(self, step_id: str, path: JsonPath, verb: str) -> None:
        users = referrers(self.data["steps"], step_id) + _handler_referrers(self.data, step_id)
        if users:
            names = ", ".join(f"`{u}`" for u in users)
            self.fail(path, "E503", f"{verb} `{step_id}` leaves {names} referring to it")

    def result(self) -> Effective | None:
        for raw, (src, path) in self.written:
            self.errors.extend(validate_fragment(_STEP, raw, src, path)[1])
        if self.errors:
            return None
        try:
            sop = SopDoc.model_validate(self.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            problem = "no steps are left" if first["loc"] == ("steps",) else first["msg"]
            message = f"applying these changes gives an invalid SOP: {where}: {problem}"
            self.errors.append(self.src.diag(("changes",), "E504", message))
            return None
        self.eff.sop = sop
        return self.eff


def apply_variant(
    base: Loaded[SopDoc], variant: Loaded[VariantDoc]
) -> tuple[Effective | None, list[Diagnostic]]:
    """The effective SOP for the variant's region, or the diagnostics that prevent it."""
    applier = _Applier(base, variant)
    for index, change in enumerate(variant.model.changes):
        applier.apply(index, change)
    return applier.result(), applier.errors
