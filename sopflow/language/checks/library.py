"""Checks that look across documents: JSON Schemas, regions, the roster and rehearsals."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import PurePath
from typing import Any

from sopflow.language.checks.rehearsal_actions import check_actions
from sopflow.language.checks.rehearsal_reviews import check_reviews
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.form_schema import form_problem, schema_problem
from sopflow.language.input_check import input_problems
from sopflow.language.library import Library, Loaded
from sopflow.language.lockfile import Lock
from sopflow.language.models import RehearsalDoc
from sopflow.language.models.documents import AddRolesChange
from sopflow.language.models.steps import OpenIncidentStep, TaskStep
from sopflow.language.validation import did_you_mean
from sopflow.language.yaml_source import JsonPath, SourceDoc


def _schema_diag(
    source: SourceDoc, at: JsonPath, schema: dict[str, Any], *, form: bool = False
) -> Diagnostic | None:
    problem = form_problem(schema) if form else schema_problem(schema)
    if problem is None:
        return None
    # A keyword that should not be there: point at the keyword, not at its value.
    on_key = problem.kind in ("unknown_keyword", "not_in_forms")
    # A keyword forms do not support is valid JSON Schema: its message says what is wrong.
    prefix = "" if problem.kind == "not_in_forms" else "not a valid JSON Schema: "
    return source.diag((*at, *problem.path), "E207", prefix + problem.message, key=on_key)


def check_schemas(eff: Effective) -> list[Diagnostic]:
    """The SOP's `input` and every task's `form` must be valid JSON Schemas (2020-12)."""
    out = []
    if eff.variant is None:
        found = _schema_diag(eff.base.source, ("input",), eff.sop.input)
        if found:
            out.append(found)
    for step, _, _ in walk_steps(list(eff.sop.steps)):
        if isinstance(step, TaskStep):
            source, path = eff.where(step.id, "form")
            if eff.variant is not None and source is eff.base.source:
                continue  # the base's own lint checked this form
            found = _schema_diag(source, path, step.form, form=True)
            if found:
                out.append(found)
    return out


def check_region(lib: Library, source: SourceDoc, region: str, path: JsonPath) -> list[Diagnostic]:
    codes = lib.region_codes()
    if codes is None or region in codes:
        return []
    hint = did_you_mean(region, codes)
    message = f"region {region!r} is not in the Regions document ({', '.join(codes)}){hint}"
    return [source.diag(path, "E311", message)]


def check_regions_kept(lib: Library) -> list[Diagnostic]:
    """A new version that drops a region its predecessor served leaves that desk behind."""
    out = []
    for sop_id in sorted({i for i, _ in lib.sops}):
        versions = lib.versions(sop_id)
        for older, newer in pairwise(versions):
            dropped = sorted(_regions(lib, sop_id, older) - _regions(lib, sop_id, newer))
            if dropped:
                names = ", ".join(dropped)
                message = (
                    f"{sop_id}@{newer} does not serve {names}, which @{older} does: an "
                    f"incident there started without a version is refused; add a variant "
                    f"for @{newer} (variants belong to one base version)"
                )
                out.append(lib.sops[(sop_id, newer)].source.diag(("version",), "W303", message))
    return out


def _regions(lib: Library, sop_id: str, version: int) -> set[str]:
    base = lib.sops[(sop_id, version)].model.region
    return {base} | {r for (i, v, r) in lib.variants if (i, v) == (sop_id, version)}


def check_roster(lib: Library) -> list[Diagnostic]:
    """Every role the roster hands out is one some SOP declares (typos lock people out)."""
    if lib.roster is None:
        return []
    declared: set[str] = set()
    for loaded in lib.sops.values():
        declared.update(loaded.model.roles)
    for variant in lib.variants.values():
        for change in variant.model.changes:
            if isinstance(change, AddRolesChange):
                declared.update(change.add_roles)
    if not declared:
        return []
    out = []
    for handle, person in lib.roster.model.people.items():
        for i, role in enumerate(person.roles):
            if role not in declared:
                hint = did_you_mean(role, sorted(declared))
                message = f"{handle} holds role `{role}`, which no SOP declares{hint}"
                out.append(lib.roster.source.diag(("people", handle, "roles", i), "W302", message))
        out.extend(
            check_region(lib, lib.roster.source, person.region, ("people", handle, "region"))
        )
        for desk, roles in person.desks.items():
            at = ("people", handle, "desks", desk)
            out.extend(check_region(lib, lib.roster.source, desk, at))
            for i, role in enumerate(roles):
                if role not in declared:
                    hint = did_you_mean(role, sorted(declared))
                    message = f"{handle} holds role `{role}` on {desk}, which no SOP declares{hint}"
                    out.append(lib.roster.source.diag((*at, i), "W302", message))
    return out


def check_rehearsal(
    lib: Library,
    rehearsal: Loaded[RehearsalDoc],
    effectives: dict[tuple[str, int, str], Effective],
    lock: Lock | None = None,
) -> list[Diagnostic]:
    """A rehearsal names a real SOP version and region, real steps and real people."""
    doc, source = rehearsal.model, rehearsal.source
    sop_id, _, version_text = doc.sop.partition("@")
    versions = lib.versions(sop_id)
    if not versions:
        if f"SOP:{sop_id}" in lib.broken:
            return []
        hint = did_you_mean(sop_id, sorted({i for i, _ in lib.sops}))
        found = source.diag(("sop",), "E603", f"no SOP `{sop_id}` in this library{hint}")
        return [_after_a_break(lib, found)]
    version = int(version_text) if version_text else versions[-1]
    if version not in versions:
        message = f"{sop_id} has no version {version} (versions: {versions})"
        return [source.diag(("sop",), "E603", message)]
    region = doc.region or lib.sops[(sop_id, version)].model.region
    eff = effectives.get((sop_id, version, region))
    if eff is None:
        return [_not_clean(lib, source, doc, (sop_id, version, region))]
    step_ids = sorted(s.id for s, _, _ in walk_steps(list(eff.sop.steps)))
    people = sorted(lib.roster.model.people) if lib.roster else None
    linked = linked_effectives(lib, eff, effectives, lock)
    out = []
    for i, action in enumerate(doc.actions):
        target = eff if action.incident is None else linked.get(action.incident)
        if target is None:
            message = _no_link(eff, action.incident or "", sorted(linked))
            out.append(source.diag(("actions", i, "incident"), "E603", message))
            continue
        target_ids = sorted(s.id for s, _, _ in walk_steps(list(target.sop.steps)))
        for kind in ("complete", "vote", "note", "cancel", "post_update", "review"):
            body = getattr(action, kind)
            if body is None:
                continue
            step = getattr(body, "step", None)
            if step is not None and step not in target_ids:
                message = f"no step `{step}` in {target.key}{did_you_mean(step, target_ids)}"
                out.append(source.diag(("actions", i, kind, "step"), "E603", message))
            if people is not None and body.as_ not in people:
                message = f"no person `{body.as_}` in the roster{did_you_mean(body.as_, people)}"
                out.append(source.diag(("actions", i, kind, "as"), "E604", message))
    if people is not None and doc.opened_by is not None and doc.opened_by not in people:
        hint = did_you_mean(doc.opened_by, people)
        message = f"no person `{doc.opened_by}` in the roster{hint}"
        out.append(source.diag(("opened_by",), "E604", message))
    for field in ("path", "breached"):
        for i, step in enumerate(getattr(doc.expect, field) or []):
            if step not in step_ids:
                message = f"no step `{step}` in {eff.key}{did_you_mean(step, step_ids)}"
                out.append(source.diag(("expect", field, i), "E603", message))
    out.extend(_rehearsal_events(source, doc, eff, linked))
    acting_on = {
        i: eff if a.incident is None else linked[a.incident]
        for i, a in enumerate(doc.actions)
        if a.incident is None or a.incident in linked
    }
    out.extend(check_actions(lib, source, doc, acting_on))
    out.extend(check_reviews(source, doc, acting_on))
    for step in doc.expect.linked or {}:
        if step not in linked:
            at = ("expect", "linked", step)
            out.append(source.diag(at, "E603", _no_link(eff, step, sorted(linked)), key=True))
    out.extend(_rehearsal_desks(lib, source, doc, eff, step_ids))
    for problem in input_problems(eff.sop.input, doc.input):
        message = f"the input does not fit {eff.key}'s input schema: {problem}"
        out.append(source.diag(("input",), "E605", message))
    out.extend(_earlier(source, doc, eff, people))
    return out


def _earlier(
    source: SourceDoc, doc: RehearsalDoc, eff: Effective, people: list[str] | None
) -> list[Diagnostic]:
    """The incidents a rehearsal opens first fit the input schema and name real people."""
    out = []
    for i, before in enumerate(doc.earlier):
        for problem in input_problems(eff.sop.input, before.input):
            message = f"the input does not fit {eff.key}'s input schema: {problem}"
            out.append(source.diag(("earlier", i, "input"), "E605", message))
        if people is not None and before.opened_by is not None and before.opened_by not in people:
            hint = did_you_mean(before.opened_by, people)
            message = f"no person `{before.opened_by}` in the roster{hint}"
            out.append(source.diag(("earlier", i, "opened_by"), "E604", message))
    if doc.if_duplicate == "attach" and doc.opened_by is None:
        message = "`if_duplicate: attach` adds a note as the opener: name them in `opened_by`"
        out.append(source.diag(("if_duplicate",), "E604", message))
    return out


def _after_a_break(lib: Library, found: Diagnostic) -> Diagnostic:
    """``found``, folded under a file of the SOP's folder that does not load (a YAML break
    hides the SOP a rehearsal in its ``rehearsals/`` names), when there is one."""
    folder = PurePath(found.path).parent.parent
    broken = sorted(
        d.path for d in lib.diagnostics if d.code < "E300" and PurePath(d.path).parent == folder
    )
    if not broken:
        return found
    message = f"{found.message}; {broken[0]} does not load: fix it first"
    return replace(found, message=message, follows=broken[0])


def _not_clean(
    lib: Library, source: SourceDoc, doc: RehearsalDoc, key: tuple[str, int, str]
) -> Diagnostic:
    """A rehearsal of an SOP version and region that does not lint clean: a follow-on of
    the SOP's own errors when the region exists (those come first), else its own."""
    sop_id, version, region = key
    at = ("region",) if doc.region else ("sop",)
    base = lib.sops[(sop_id, version)]
    variant = lib.variants.get(key)
    if region != base.model.region and variant is None:
        message = f"{sop_id}@{version} has no {region} variant (it runs in {base.model.region})"
        return source.diag(at, "E603", message)
    files = " or ".join([base.source.path, *([variant.source.path] if variant is not None else [])])
    message = f"{sop_id}@{version} ({region}) does not lint clean: fix the errors in {files} first"
    return replace(source.diag(at, "E603", message), follows=base.source.path)


def linked_effectives(
    lib: Library,
    eff: Effective,
    effectives: dict[tuple[str, int, str], Effective],
    lock: Lock | None = None,
) -> dict[str, Effective]:
    """The effective SOP each `open_incident` step of ``eff`` opens (by the step's id; a
    step without `version` opens the latest not retired in ``lock``), when it lints clean:
    a rehearsal may act on those incidents too."""
    out = {}
    for step, _, _ in walk_steps(list(eff.sop.steps)):
        if not isinstance(step, OpenIncidentStep):
            continue
        versions = lib.versions(step.sop)
        if not versions:
            continue
        default = lock.default_version(step.sop, versions) if lock else versions[-1]
        version = step.version or default
        found = effectives.get((step.sop, version, step.region or eff.region))
        if found is not None:
            out[step.id] = found
    return out


def _no_link(eff: Effective, step: str, linked: list[str]) -> str:
    known = f" (it opens incidents at: {', '.join(linked)})" if linked else " (it opens none)"
    hint = did_you_mean(step, linked) or known
    return f"no `open_incident` step `{step}` in {eff.key} that opens an SOP that lints{hint}"


def _rehearsal_desks(
    lib: Library, source: SourceDoc, doc: RehearsalDoc, eff: Effective, step_ids: list[str]
) -> list[Diagnostic]:
    """The steps and desks named in `expect.handoffs` and `expect.breached_at` exist."""
    out = []
    for step in doc.expect.breached_at or {}:
        if step not in step_ids:
            message = f"no step `{step}` in {eff.key}{did_you_mean(step, step_ids)}"
            out.append(source.diag(("expect", "breached_at", step), "E603", message, key=True))
    desks = sorted(lib.rota.model.desks) if lib.rota else []
    for i, handoff in enumerate(doc.expect.handoffs or []):
        step, _, move = handoff.partition(": ")
        if step not in step_ids:
            message = f"no step `{step}` in {eff.key}{did_you_mean(step, step_ids)}"
            out.append(source.diag(("expect", "handoffs", i), "E603", message))
        for desk in move.split(" -> ") if desks else []:
            if desk not in desks:
                hint = did_you_mean(desk, desks) or f" (its desks: {', '.join(desks)})"
                message = f"no desk `{desk}` in the Rota{hint}"
                out.append(source.diag(("expect", "handoffs", i), "E603", message))
    return out


def _rehearsal_events(
    source: SourceDoc, doc: RehearsalDoc, eff: Effective, linked: dict[str, Effective]
) -> list[Diagnostic]:
    # A signal no step waits for would sit in the buffer for ever: almost surely a typo.
    out = []
    for i, action in enumerate(doc.actions):
        target = eff if action.incident is None else linked.get(action.incident)
        if action.signal is None or target is None:
            continue
        waited = sorted(
            {s.event for s, _, _ in walk_steps(list(target.sop.steps)) if getattr(s, "event", None)}
            | set(target.sop.on_event or {})
        )
        if action.signal.event not in waited:
            name = action.signal.event
            known = f" (it waits for: {', '.join(waited)})" if waited else " (it waits for none)"
            hint = did_you_mean(name, waited) or known
            message = f"no step of {target.key} waits for event `{name}`{hint}"
            out.append(source.diag(("actions", i, "signal", "event"), "E606", message))
    return out
