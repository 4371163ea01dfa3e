"""Checks of `open_incident` steps against the library: the SOP, version and region they open
exist, the input they build fits the other SOP's input, and their `on` names outcomes it can
finish with. They run once every effective SOP is known (the linked one may come later in the
library), and they report at the step that links.
"""

from __future__ import annotations

from collections.abc import Mapping

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, all_steps
from sopflow.language.library import Library
from sopflow.language.lockfile import Lock
from sopflow.language.models.steps import LINK_OUTCOMES, EndStep, OpenIncidentStep
from sopflow.language.validation import did_you_mean

EffKey = tuple[str, int, str]


def check_links(
    lib: Library, lock: Lock, effectives: Mapping[EffKey, Effective]
) -> list[Diagnostic]:
    """Every problem of every `open_incident` step of the effective SOPs."""
    out: list[Diagnostic] = []
    for eff in effectives.values():
        for step in all_steps(eff.sop):
            if isinstance(step, OpenIncidentStep):
                out.extend(_check_link(lib, lock, effectives, eff, step))
    return out


def _check_link(
    lib: Library,
    lock: Lock,
    effectives: Mapping[EffKey, Effective],
    eff: Effective,
    step: OpenIncidentStep,
) -> list[Diagnostic]:
    versions = lib.versions(step.sop)
    if not versions:
        known = sorted({sop_id for sop_id, _ in lib.sops})
        hint = did_you_mean(step.sop, known)
        message = f"no SOP `{step.sop}` in this library to open{hint}"
        return [eff.diag(step.id, ("sop",), "E603", message)]
    if step.version is not None and step.version not in versions:
        message = f"{step.sop} has no version {step.version} (versions: {versions})"
        return [eff.diag(step.id, ("version",), "E603", message)]
    version = step.version or lock.default_version(step.sop, versions)
    region = step.region or eff.region
    out = _retired(lock, eff, step)
    regions = _regions(lib, step.sop, version)
    if region not in regions:
        field = ("region",) if step.region else ("sop",)
        message = (
            f"{step.sop}@{version} has no {region} variant (regions: {', '.join(regions)})"
            + ("" if step.region else f"; this SOP runs in {region}: name the `region` to open")
        )
        return [*out, eff.diag(step.id, field, "E313", message)]
    target = effectives.get((step.sop, version, region))
    if target is None:
        return out  # the linked SOP has errors of its own, reported in its file
    return [*out, *_input_fits(eff, step, target), *_outcomes_exist(eff, step, target)]


def _retired(lock: Lock, eff: Effective, step: OpenIncidentStep) -> list[Diagnostic]:
    found = lock.retirement(step.sop, step.version) if step.version is not None else None
    if found is None:
        return []
    message = (
        f"{step.sop}@{step.version} is retired ({found.reason}): the step would fail when it "
        f"runs; open {step.sop}@{found.use}, or leave `version` out for the latest"
    )
    return [eff.diag(step.id, ("version",), "W600", message)]


def _regions(lib: Library, sop_id: str, version: int) -> list[str]:
    base = lib.sops[(sop_id, version)].model
    variants = [r for (i, v, r) in lib.variants if (i, v) == (sop_id, version)]
    return sorted({base.region, *variants})


def _input_fits(eff: Effective, step: OpenIncidentStep, target: Effective) -> list[Diagnostic]:
    schema = target.sop.input
    properties = schema.get("properties")
    fields = sorted(properties) if isinstance(properties, dict) else None
    name = f"{target.sop.id}@{target.sop.version}"
    out = []
    if fields is not None and schema.get("additionalProperties") is False:
        for key in step.input:
            if key not in fields:
                hint = did_you_mean(key, fields)
                message = f"{name}'s input has no field `{key}` (it has: {', '.join(fields)}){hint}"
                out.append(eff.diag(step.id, ("input", key), "E314", message))
    required = schema.get("required")
    missing = [r for r in required if r not in step.input] if isinstance(required, list) else []
    if missing:
        message = f"{name}'s input requires {', '.join(missing)}, which `input` does not build"
        out.append(eff.diag(step.id, ("input",) if step.input else ("id",), "E314", message))
    return out


def _outcomes_exist(eff: Effective, step: OpenIncidentStep, target: Effective) -> list[Diagnostic]:
    ends = {s.outcome for s in all_steps(target.sop) if isinstance(s, EndStep)}
    possible = sorted(ends | set(LINK_OUTCOMES))
    out = []
    for outcome in step.on:
        if outcome not in possible:
            hint = did_you_mean(outcome, possible)
            message = (
                f"{target.sop.id}@{target.sop.version} never finishes as `{outcome}` (it "
                f"finishes as: {', '.join(possible)}){hint}"
            )
            out.append(eff.diag(step.id, ("on", outcome), "W306", message))
    return out
