"""Checks of `migrates_from`: the older version exists, and each step it maps is a safe point
in both versions (a top-level task, approval or wait, of the same type on both sides).

A running incident moves only while every step active in it is mapped; a step inside a
parallel branch, or one that is running an activity, is never a safe point, so mapping one
would promise a migration that never happens.
"""

from __future__ import annotations

from collections.abc import Mapping

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, all_steps
from sopflow.language.library import Library
from sopflow.language.models.steps import StepBase
from sopflow.language.validation import did_you_mean

EffKey = tuple[str, int, str]
SAFE_TYPES = ("task", "approval", "wait")


def check_migrations(lib: Library, effectives: Mapping[EffKey, Effective]) -> list[Diagnostic]:
    """Every problem of every effective SOP's `migrates_from`."""
    out: list[Diagnostic] = []
    for (sop_id, version, region), eff in effectives.items():
        mapping = eff.sop.migrates_from
        if mapping is None:
            continue
        at = ("migrates_from",)
        older = lib.versions(sop_id)
        if mapping.version >= version or mapping.version not in older:
            earlier = [v for v in older if v < version]
            message = (
                f"{sop_id} has no earlier version {mapping.version} to migrate from "
                f"(earlier versions: {earlier or 'none'})"
            )
            out.append(eff.sop_diag((*at, "version"), "E603", message))
            continue
        old = effectives.get((sop_id, mapping.version, region))
        if old is None:
            continue  # no such region then, or it has errors of its own
        out.extend(_check_map(eff, old))
    return out


def _check_map(new: Effective, old: Effective) -> list[Diagnostic]:
    assert new.sop.migrates_from is not None
    old_top, new_top = _top_level(old), _top_level(new)
    old_all = {s.id: s for s in all_steps(old.sop)}
    new_all = {s.id: s for s in all_steps(new.sop)}
    out = []
    for old_id, new_id in new.sop.migrates_from.steps.items():
        at = ("migrates_from", "steps", old_id)
        problem = _problem(old_id, new_id, old_all, new_all, old_top, new_top, old.key)
        if problem is not None:
            out.append(new.sop_diag(at, "E315", problem))
    return out


def _problem(
    old_id: str,
    new_id: str,
    old_all: dict[str, StepBase],
    new_all: dict[str, StepBase],
    old_top: set[str],
    new_top: set[str],
    old_name: str,
) -> str | None:
    if old_id not in old_all:
        return f"{old_name} has no step `{old_id}`{did_you_mean(old_id, sorted(old_all))}"
    if new_id not in new_all:
        return f"this version has no step `{new_id}`{did_you_mean(new_id, sorted(new_all))}"
    before, after = old_all[old_id].type_name(), new_all[new_id].type_name()
    if before != after:
        return (
            f"`{old_id}` is {_a(before)} and `{new_id}` {_a(after)}: a step maps to one of its "
            "own type"
        )
    if before not in SAFE_TYPES or old_id not in old_top or new_id not in new_top:
        return (
            f"`{old_id}` -> `{new_id}` is not a safe point: only top-level tasks, approvals "
            "and waits, where an incident waits on a person, an event or the clock"
        )
    return None


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _top_level(eff: Effective) -> set[str]:
    return {s.id for s in eff.sop.steps}
