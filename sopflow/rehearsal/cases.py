"""Finding rehearsals and resolving each against its library: the plan it runs (SOP version
and region) and the Roster that says who may act. Problems come back as diagnostics, never
as exceptions, so one broken rehearsal does not stop the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sopflow.compile.lint import LintResult
from sopflow.contract.plan import Plan
from sopflow.language.checks.library import check_rehearsal
from sopflow.language.diagnostics import Diagnostic, Severity
from sopflow.language.library import Loaded, display_path, document_files
from sopflow.language.models import RehearsalDoc
from sopflow.language.models.rota import RotaDoc
from sopflow.language.roster import Roster, RosterError
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import SourceDoc, load_file


@dataclass(frozen=True, slots=True)
class Case:
    """One rehearsal, resolved against its library: the plan it runs (SOP version and
    region), who may act, and its source for pointing at expectations."""

    doc: RehearsalDoc
    source: SourceDoc
    plan: Plan
    roster: Roster
    rota: RotaDoc | None = None  # the library's, read by steps that follow the sun
    # The linted library, from which `open_incident` steps resolve the SOPs they open.
    library: LintResult | None = None

    @property
    def name(self) -> str:
        """The file, as the user named it."""
        return self.source.path


@dataclass
class Collected:
    ready: list[Case] = field(default_factory=list)
    # Rehearsals that cannot run, each with the problems that say why.
    blocked: dict[str, list[Diagnostic]] = field(default_factory=dict)


def collect(targets: list[Path], result: LintResult) -> Collected:
    """The rehearsals in ``targets`` (files, or directories searched for Rehearsal documents;
    none: every rehearsal of the library), resolved against the linted library."""
    out = Collected()
    loaded: list[Loaded[RehearsalDoc]] = []
    if not targets:
        loaded = list(result.library.rehearsals)
    for target in targets:
        explicit = not target.is_dir()
        files = document_files(target) if target.is_dir() else [target]
        for file in files:
            doc, problems = _load(file, explicit=explicit)
            if problems:
                out.blocked[display_path(file)] = problems
            elif doc is not None:
                loaded.append(doc)
    for item in loaded:
        name = item.source.path
        ready, problems = _resolve(item, result)
        if ready is None:
            out.blocked[name] = problems
        else:
            out.ready.append(ready)
    return out


def _load(file: Path, *, explicit: bool) -> tuple[Loaded[RehearsalDoc] | None, list[Diagnostic]]:
    name = display_path(file)
    if not file.exists():
        return None, [Diagnostic(name, 1, 1, "E107", "no such file or directory")]
    source, problems = load_file(file, name)
    if source is None:
        return None, problems
    if isinstance(source.data, dict) and source.data.get("kind") != "Rehearsal":
        if not explicit:
            return None, []  # a directory holds SOPs and policies too
        kind = source.data.get("kind")
        message = f"not a Rehearsal document (kind: {kind}); `sopflow rehearse` runs rehearsals"
        return None, [source.diag(("kind",), "E201", message)]
    model, problems = validate_document(source)
    if not isinstance(model, RehearsalDoc):
        return None, problems
    return Loaded(model, source), []


def _resolve(
    item: Loaded[RehearsalDoc], result: LintResult
) -> tuple[Case | None, list[Diagnostic]]:
    lib, doc = result.library, item.model
    problems = [
        d
        for d in check_rehearsal(lib, item, result.effectives, result.lock)
        if d.severity is Severity.ERROR
    ]
    sop_id, _, version_text = doc.sop.partition("@")
    if problems:
        return None, problems + _sop_errors(result, sop_id)
    version = int(version_text) if version_text else lib.versions(sop_id)[-1]
    region = doc.region or lib.sops[(sop_id, version)].model.region
    key = (sop_id, version, region)
    broken = result.errors_in(key)
    plan = result.plans.get(key)
    if broken or plan is None:
        message = f"{result.effectives[key].key} does not compile"
        return None, broken or [item.source.diag(("sop",), "E603", message)]
    try:
        roster = Roster.from_library(lib)
    except RosterError as exc:
        return None, [item.source.diag(("actions",), "E604", str(exc))]
    rota = lib.rota.model if lib.rota is not None else None
    return Case(doc, item.source, plan, roster, rota, result), []


def _sop_errors(result: LintResult, sop_id: str) -> list[Diagnostic]:
    """The errors in the SOP's own files (base versions and variants), which explain why a
    rehearsal of it cannot run."""
    lib = result.library
    files = {d.source.path for (i, _), d in lib.sops.items() if i == sop_id}
    files |= {d.source.path for (i, _, _), d in lib.variants.items() if i == sop_id}
    return [d for d in result.diagnostics if d.severity is Severity.ERROR and d.path in files]
