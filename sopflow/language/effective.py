"""The effective SOP: a base version with one region's variant applied, and where each part
of it was written, so that a problem in the result points at the file that caused it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.library import Loaded
from sopflow.language.models import SopDoc, VariantDoc
from sopflow.language.models.steps import ParallelStep, StepBase
from sopflow.language.yaml_source import JsonPath, Pos, SourceDoc

Where = tuple[SourceDoc, JsonPath]


@dataclass(slots=True)
class Effective:
    """One SOP version as it runs in one region."""

    sop: SopDoc
    region: str
    base: Loaded[SopDoc]
    variant: Loaded[VariantDoc] | None = None
    # Where each step (by id) was written: the base file or the variant that inserted it.
    step_where: dict[str, Where] = field(default_factory=dict)
    # Fields a variant's `set` changed: (step id, field) -> where the new value was written.
    field_where: dict[tuple[str, str], Where] = field(default_factory=dict)
    # Top-level fields a variant replaced (e.g. `restricted_to`): field -> where it wrote it.
    sop_where: dict[str, Where] = field(default_factory=dict)
    # Second and later definitions of a step id, for the duplicate-id check.
    repeats: list[tuple[str, Where]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.sop.id}@{self.sop.version} ({self.region})"

    def where(self, step_id: str, *sub: str | int) -> Where:
        """The document and path of ``sub`` inside step ``step_id``."""
        if sub and isinstance(sub[0], str) and (step_id, sub[0]) in self.field_where:
            source, path = self.field_where[(step_id, sub[0])]
            return source, (*path, *sub[1:])
        source, path = self.step_where.get(step_id, (self.base.source, ()))
        return source, (*path, *sub)

    def diag(self, step_id: str, sub: tuple[str | int, ...], code: str, message: str) -> Diagnostic:
        source, path = self.where(step_id, *sub)
        return source.diag(path, code, message)

    def sop_diag(self, sub: tuple[str | int, ...], code: str, message: str) -> Diagnostic:
        """A diagnostic at a top-level field: in the variant that replaced it, else in the base."""
        if sub and isinstance(sub[0], str) and sub[0] in self.sop_where:
            source, path = self.sop_where[sub[0]]
            return source.diag((*path, *sub[1:]), code, message)
        return self.base.source.diag(sub, code, message)

    def expr_diag(
        self, step_id: str, sub: tuple[str | int, ...], offset: int, code: str, message: str
    ) -> Diagnostic:
        source, path = self.where(step_id, *sub)
        at: Pos = source.expr_pos(path, offset)
        return Diagnostic(source.path, at.line, at.col, code, message)


def walk_steps(steps: list[Any]) -> Iterator[tuple[Any, list[Any], int]]:
    """Every step, depth first, with the list that holds it and its index there."""
    for index, step in enumerate(steps):
        yield step, steps, index
        if isinstance(step, ParallelStep):
            for branch in step.branches:
                yield from walk_steps(branch.steps)


def step_paths(steps: list[Any], prefix: JsonPath) -> Iterator[tuple[dict[str, Any], JsonPath]]:
    """Every raw step mapping under ``prefix`` with its JSON path, depth first."""
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        path = (*prefix, index)
        yield step, path
        branches = step.get("branches") if step.get("type") == "parallel" else None
        for b, branch in enumerate(branches or []):
            if isinstance(branch, dict) and isinstance(branch.get("steps"), list):
                yield from step_paths(branch["steps"], (*path, "branches", b, "steps"))


def all_steps(sop: SopDoc) -> list[StepBase]:
    return [step for step, _, _ in walk_steps(list(sop.steps))]


def from_base(base: Loaded[SopDoc]) -> Effective:
    """The base SOP as its own region runs it."""
    eff = Effective(sop=base.model, region=base.model.region, base=base)
    for raw, path in step_paths(base.source.data.get("steps", []), ("steps",)):
        step_id = raw.get("id")
        if isinstance(step_id, str):
            if step_id in eff.step_where:
                eff.repeats.append((step_id, (base.source, path)))
            else:
                eff.step_where[step_id] = (base.source, path)
    return eff
