"""Lint a library root: load, validate, apply variants, check, compile, compare with the lock.

``lint_library`` never raises on bad input; every problem becomes a diagnostic. It returns the
effective SOPs that passed, so ``compile``, ``publish`` and the rest reuse one code path.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

from sopflow.compile.compiler import compile_effective
from sopflow.contract.expressions import request_facts
from sopflow.contract.plan import POLICY_PART_PREFIX, REGION_PART, Plan
from sopflow.language.checks.desk_clocks import check_desk_clocks, check_timestamps
from sopflow.language.checks.destinations import (
    check_destination_regions,
    check_destinations,
    unresolved_destination,
)
from sopflow.language.checks.events import check_event_handlers
from sopflow.language.checks.expressions import check_policy, check_sop_expressions
from sopflow.language.checks.library import (
    check_region,
    check_regions_kept,
    check_rehearsal,
    check_roster,
    check_schemas,
)
from sopflow.language.checks.links import check_links
from sopflow.language.checks.migration import check_migrations
from sopflow.language.checks.policy_outcomes import check_policy_outcomes
from sopflow.language.checks.rota import check_rota
from sopflow.language.checks.steps import Context, run_checks
from sopflow.language.checks.updates import check_updates
from sopflow.language.diagnostics import Diagnostic, Severity, has_errors, root_causes_first
from sopflow.language.effective import Effective, all_steps, from_base
from sopflow.language.library import Library, Loaded, display_path, load_library
from sopflow.language.lockfile import Lock, changed_parts, part_in_words, read_lock
from sopflow.language.models import VariantDoc
from sopflow.language.models.steps import DisclosureCheckStep
from sopflow.language.variants import apply_variant
from sopflow.language.yaml_source import SourceDoc

EffKey = tuple[str, int, str]


@dataclass(slots=True)
class LintResult:
    library: Library
    lock: Lock
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Problems that follow from another (a rehearsal of an SOP with errors): left out of
    # `diagnostics`, counted in the summary. Each names the file to fix first.
    folded: list[Diagnostic] = field(default_factory=list)
    # Effective SOPs (by id, version, region) that have no errors of their own, and their plans.
    effectives: dict[EffKey, Effective] = field(default_factory=dict)
    plans: dict[EffKey, Plan] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def errors_in(self, key: EffKey) -> list[Diagnostic]:
        """The errors in the files an effective SOP is built from (its base and its
        variant): a version with any of them is never run, nor rehearsed."""
        eff = self.effectives[key]
        files = {eff.base.source.path} | ({eff.variant.source.path} if eff.variant else set())
        return [d for d in self.diagnostics if d.severity is Severity.ERROR and d.path in files]


def _context(lib: Library) -> Context:
    broken = frozenset(
        name.split(":", 1)[1] for name in lib.broken if name.startswith("DisclosurePolicy:")
    )
    facts = {
        policy_id: sorted(
            {fact for rule in policy.model.rules for fact, _ in request_facts(rule.when or "")}
        )
        for policy_id, policy in lib.policies.items()
    }
    return Context(
        policies=frozenset(lib.policies),
        broken_policies=broken,
        roster=lib.roster.model if lib.roster else None,
        policy_facts=facts,
        policy_rules={
            policy_id: [(rule.when, rule.decision) for rule in policy.model.rules]
            for policy_id, policy in lib.policies.items()
        },
        rota_desks=frozenset(lib.rota.model.desks) if lib.rota else None,
        rota_broken="Rota" in lib.broken,
        destinations=lib.destinations.model.destinations if lib.destinations else None,
        destinations_broken="Destinations" in lib.broken,
    )


def check_effective(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """Every check that applies to one effective SOP."""
    return [
        *run_checks(eff, ctx),
        *check_desk_clocks(eff, ctx),
        *check_timestamps(eff, ctx),
        *check_event_handlers(eff, ctx),
        *check_destinations(eff, ctx),
        *check_updates(eff, ctx),
        *check_policy_outcomes(eff, ctx.policy_rules or {}),
        *check_sop_expressions(eff),
        *check_schemas(eff),
    ]


def _annotate(found: list[Diagnostic], own: set[Diagnostic], eff: Effective) -> list[Diagnostic]:
    # A problem in the base file that only appears once the variant applies is the variant's
    # doing: say so, so the author knows which file to change.
    assert eff.variant is not None
    base_path = eff.base.source.path
    variant_path = eff.variant.source.path
    out = []
    for diag in found:
        if diag in own:
            continue
        if diag.path == base_path:
            diag = Diagnostic(
                diag.path,
                diag.line,
                diag.col,
                diag.code,
                f"{diag.message} (after applying the {eff.region} variant {variant_path})",
            )
        out.append(diag)
    return out


def lint_library(root: Path) -> LintResult:
    """Lint every document under ``root`` and compile every clean effective SOP."""
    # Lint allocates many small, acyclic objects; the cyclic collector's full passes over a
    # growing heap cost a fifth of the time and free nothing, so it pauses meanwhile.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _lint(root)
    finally:
        if was_enabled:
            gc.enable()


def _lint(root: Path) -> LintResult:
    lib = load_library(root)
    lock, lock_problems = read_lock(root)
    result = LintResult(library=lib, lock=lock, diagnostics=[*lib.diagnostics, *lock_problems])
    out = result.diagnostics
    ctx = _context(lib)
    bad_policies = set(ctx.broken_policies)
    for policy_id, policy in lib.policies.items():
        found = check_policy(policy)
        found += check_region(lib, policy.source, policy.model.jurisdiction, ("jurisdiction",))
        if has_errors(found):
            bad_policies.add(policy_id)
        out.extend(found)
    own_by_base: dict[tuple[str, int], set[Diagnostic]] = {}
    for (sop_id, version), base in sorted(lib.sops.items()):
        eff = from_base(base)
        found = check_effective(eff, ctx)
        found += check_region(lib, base.source, base.model.region, ("region",))
        own_by_base[(sop_id, version)] = set(found)
        out.extend(found)
        if not has_errors(found):
            result.effectives[(sop_id, version, eff.region)] = eff
    for _, variant in sorted(lib.variants.items()):
        out.extend(_lint_variant(result, ctx, variant, own_by_base))
    for rehearsal in lib.rehearsals:
        out.extend(check_rehearsal(lib, rehearsal, result.effectives, lock))
        if rehearsal.model.region:
            src = rehearsal.source
            out.extend(check_region(lib, src, rehearsal.model.region, ("region",)))
    out.extend(check_roster(lib))
    out.extend(check_regions_kept(lib))
    out.extend(check_destination_regions(lib))
    for key, eff in list(result.effectives.items()):
        if _uses_bad_policy(eff, lib, bad_policies) or unresolved_destination(eff, lib):
            del result.effectives[key]  # the policy's (or destinations') file has the error
        else:
            result.plans[key] = compile_effective(eff, lib)
    out.extend(check_rota(lib, result.plans))
    out.extend(_check_lock(result))
    out.extend(_retired_targets(result))
    out.extend(check_links(lib, lock, result.effectives))
    out.extend(check_migrations(lib, result.effectives))
    ordered = root_causes_first(out, _ranks(lib))
    result.diagnostics = [d for d in ordered if not d.follows]
    result.folded = [d for d in ordered if d.follows]
    return result


def _rank_by_name(path: str) -> int:
    """A file that did not load: its rank by where such files live."""
    if PurePath(path).name in SHARED_FILES:
        return 0
    return 3 if "rehearsals" in PurePath(path).parts else 1


SHARED_FILES = ("regions.yaml", "roster.yaml", "rota.yaml", "destinations.yaml")


def _ranks(lib: Library) -> dict[str, int]:
    """Which files others depend on: shared documents (0) before SOPs (1), variants (2),
    rehearsals (3) and the lock (4), so a root cause is read before what follows from it."""
    ranks = {d.path: _rank_by_name(d.path) for d in lib.diagnostics}  # files that did not load
    ranks |= {d.source.path: 2 for d in lib.variants.values()}
    ranks |= {r.source.path: 3 for r in lib.rehearsals}
    ranks |= {p.source.path: 0 for p in lib.policies.values()}
    for shared in (lib.regions, lib.roster, lib.rota):
        if shared is not None:
            ranks[shared.source.path] = 0
    return ranks


def _lint_variant(
    result: LintResult,
    ctx: Context,
    variant: Loaded[VariantDoc],
    own_by_base: dict[tuple[str, int], set[Diagnostic]],
) -> list[Diagnostic]:
    lib = result.library
    sop_id, version, region = variant.model.id, variant.model.version, variant.model.region
    found = check_region(lib, variant.source, region, ("region",))
    base = lib.sops.get((sop_id, version))
    if base is None:
        if f"SOP:{sop_id}" not in lib.broken:
            found.append(_missing_base(lib, variant.source, sop_id, version))
        return found
    if region == base.model.region:
        message = f"{sop_id}@{version} is written for {region}; a variant adapts it elsewhere"
        found.append(variant.source.diag(("region",), "E205", message))
    applied, problems = apply_variant(base, variant)
    found += problems
    if applied is None:
        return found
    own = own_by_base[(sop_id, version)]
    found += _annotate(check_effective(applied, ctx), own, applied)
    if not has_errors(found) and not has_errors(own):
        result.effectives[(sop_id, version, region)] = applied
    return found


def _uses_bad_policy(eff: Effective, lib: Library, bad: set[str]) -> bool:
    used = {s.policy for s in all_steps(eff.sop) if isinstance(s, DisclosureCheckStep)}
    return any(p in bad or p not in lib.policies for p in used)


def _missing_base(lib: Library, source: SourceDoc, sop_id: str, version: int) -> Diagnostic:
    versions = lib.versions(sop_id)
    if versions:
        message = f"{sop_id} has no version {version} to adapt (versions: {versions})"
        found = source.diag(("version",), "E500", message)
    else:
        found = source.diag(("id",), "E500", f"no SOP `{sop_id}` in this library to adapt")
    # A file beside it that does not load (a YAML break) is most likely the base: say so,
    # and let that file's error come first.
    folder = PurePath(source.path).parent
    unreadable = sorted(
        d.path
        for d in lib.diagnostics
        if d.code < "E300" and d.path != source.path and PurePath(d.path).parent == folder
    )
    if unreadable:
        message = f"{found.message}; {unreadable[0]} beside it does not load: fix it first"
        return replace(found, message=message, follows=unreadable[0])
    return found


def _retired_targets(result: LintResult) -> list[Diagnostic]:
    """W600 for each rehearsal of a retired version (it still runs: an old version's story
    may be worth keeping; the warning says which version replaces it)."""
    lib, lock = result.library, result.lock
    out = []
    for rehearsal in lib.rehearsals:
        sop_id, _, version_text = rehearsal.model.sop.partition("@")
        versions = lib.versions(sop_id)
        if not versions or not version_text.isdigit():
            continue  # no version named: the default is never a retired one
        retired = lock.retirement(sop_id, int(version_text))
        if retired is not None and rehearsal.model.expect.start != "refused":
            message = (
                f"{rehearsal.model.sop} is retired ({retired.reason}): rehearse "
                f"{sop_id}@{retired.use}, keep this one as the old version's record, or "
                "expect `start: refused`"
            )
            out.append(rehearsal.source.diag(("sop",), "W600", message))
    return out


def _check_lock(result: LintResult) -> list[Diagnostic]:
    lib, lock = result.library, result.lock
    out = []
    lock_name = display_path(lock.path)
    for key, regions in sorted(lock.published.items()):
        sop_id, _, version_text = key.partition("@")
        version = int(version_text) if version_text.isdigit() else -1
        base = lib.sops.get((sop_id, version))
        for region, recorded in sorted(regions.items()):
            plan = result.plans.get((sop_id, version, region))
            if plan is None:
                if base is None and f"SOP:{sop_id}" not in lib.broken:
                    message = f"{key} is published but no longer in the library"
                    out.append(Diagnostic(lock_name, *lock.position_of(key), "E602", message))
                elif base is not None and (sop_id, version, region) not in _known(lib):
                    message = f"{key} ({region}) is published but its {region} variant is gone"
                    out.append(Diagnostic(lock_name, *lock.position_of(key), "E602", message))
                continue
            if plan.plan_hash != recorded:
                eff = result.effectives[(sop_id, version, region)]
                source = eff.variant.source if eff.variant else eff.base.source
                what = changed_parts(lock.parts.get(key, {}).get(region, {}), plan.part_hashes())
                message = (
                    f"{key} ({region}) is published and its compiled plan changed "
                    f"(locked {recorded[:12]}, now {plan.plan_hash[:12]})"
                    + (f": {', '.join(map(part_in_words, what))} changed" if what else "")
                    + "; a published plan never changes: "
                    + _advice(what)
                )
                out.append(source.diag(("version",), "E600", message))
    return out


def _advice(changed: list[str]) -> str:
    """What to do about a published plan whose ``changed`` parts changed."""
    if changed and all(part == REGION_PART for part in changed):
        return (
            "revert the Regions edit (published plans embed their region's settings); "
            "a new desk gets a new region code"
        )
    if changed and all(part.startswith(POLICY_PART_PREFIX) for part in changed):
        return (
            "revert the policy edit; put the new rules under a new policy id used by a new version"
        )
    return "revert the edit, and publish the change as a new version"


def _known(lib: Library) -> set[EffKey]:
    known = {(i, v, s.model.region) for (i, v), s in lib.sops.items()}
    return known | set(lib.variants)
