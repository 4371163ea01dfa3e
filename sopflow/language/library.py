"""A library root: every document under one directory, loaded, validated and indexed.

Documents refer only to documents in the same root (an SOP's policies, a variant's base, a
rehearsal's SOP), so each root is checked on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from sopflow.language.diagnostics import Diagnostic
from sopflow.language.models import (
    DestinationsDoc,
    DisclosurePolicyDoc,
    RegionsDoc,
    RehearsalDoc,
    RosterDoc,
    RotaDoc,
    SopDoc,
    VariantDoc,
)
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import SourceDoc, load_file

DEFAULT_DEFINITIONS = "sop_definitions"
LOCK_FILE = "sopflow.lock"


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[M]):
    """A validated document with the source it came from (for positions)."""

    model: M
    source: SourceDoc


@dataclass(slots=True)
class Library:
    root: Path
    sops: dict[tuple[str, int], Loaded[SopDoc]] = field(default_factory=dict)
    variants: dict[tuple[str, int, str], Loaded[VariantDoc]] = field(default_factory=dict)
    policies: dict[str, Loaded[DisclosurePolicyDoc]] = field(default_factory=dict)
    regions: Loaded[RegionsDoc] | None = None
    roster: Loaded[RosterDoc] | None = None
    rota: Loaded[RotaDoc] | None = None
    destinations: Loaded[DestinationsDoc] | None = None
    rehearsals: list[Loaded[RehearsalDoc]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    # Files that failed to load, so checks that need them do not report echoes.
    broken: set[str] = field(default_factory=set)

    def versions(self, sop_id: str) -> list[int]:
        return sorted(v for (i, v) in self.sops if i == sop_id)

    def region_codes(self) -> list[str] | None:
        return sorted(self.regions.model.regions) if self.regions else None


def default_definitions() -> Path:
    """``$SOPFLOW_DEFINITIONS``, then ``./sop_definitions``."""
    return Path(os.environ.get("SOPFLOW_DEFINITIONS") or DEFAULT_DEFINITIONS)


def document_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` file under ``root``, in a stable order."""
    # os.walk, not Path.rglob: on thousands of files rglob's path hashing costs a second.
    found = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        found += [Path(folder, n) for n in names if n.endswith((".yaml", ".yml"))]
    return sorted(found)


def display_path(file: Path, cwd: Path | None = None) -> str:
    """The path as a person would type it: relative to the working directory when inside it."""
    try:
        return str(file.resolve().relative_to(cwd or Path.cwd().resolve()))
    except ValueError:
        return str(file)


def load_library(root: Path) -> Library:
    """Load and validate every document under ``root``; never raises on bad input."""
    lib = Library(root=root)
    if not root.is_dir():
        lib.diagnostics.append(
            Diagnostic(str(root), 1, 1, "E107", "not a directory of SOP definitions")
        )
        return lib
    files = document_files(root)
    lib.files = len(files)
    cwd = Path.cwd().resolve()
    for file in files:
        name = display_path(file, cwd)
        source, problems = load_file(file, name)
        lib.diagnostics.extend(problems)
        if source is None:
            lib.broken.add(name)
            continue
        model, problems = validate_document(source)
        lib.diagnostics.extend(problems)
        if model is None:
            lib.broken.add(name)
            _remember_identity(lib, source)
            continue
        _index(lib, Loaded(model, source))
    return lib


def _remember_identity(lib: Library, source: SourceDoc) -> None:
    # A document that failed validation still claims an identity; knowing it avoids
    # "no such SOP" echoes in the documents that refer to it.
    data = source.data
    if data.get("kind") in ("SOP", "Variant") and isinstance(data.get("id"), str):
        lib.broken.add(f"{data['kind']}:{data['id']}")
    if data.get("kind") == "DisclosurePolicy" and isinstance(data.get("id"), str):
        lib.broken.add(f"DisclosurePolicy:{data['id']}")
    if data.get("kind") in ("Rota", "Destinations"):
        lib.broken.add(data["kind"])


def _duplicate(lib: Library, loaded: Loaded[BaseModel], what: str, first: SourceDoc) -> None:
    where = first.pos(())
    lib.diagnostics.append(
        loaded.source.diag(
            ("id",) if "id" in loaded.source.data else (),
            "E310",
            f"{what} is already defined in {first.path}:{where.line}",
        )
    )


def _index(lib: Library, loaded: Loaded[BaseModel]) -> None:
    model = loaded.model
    if isinstance(model, SopDoc):
        key = (model.id, model.version)
        if key in lib.sops:
            _duplicate(lib, loaded, f"SOP {model.id}@{model.version}", lib.sops[key].source)
        else:
            lib.sops[key] = Loaded(model, loaded.source)
    elif isinstance(model, VariantDoc):
        vkey = (model.id, model.version, model.region)
        if vkey in lib.variants:
            first = lib.variants[vkey].source
            where = first.pos(())
            message = (
                f"a {model.region} variant of {model.id}@{model.version} is already defined "
                f"in {first.path}:{where.line}"
            )
            lib.diagnostics.append(loaded.source.diag(("region",), "E502", message))
        else:
            lib.variants[vkey] = Loaded(model, loaded.source)
    elif isinstance(model, DisclosurePolicyDoc):
        if model.id in lib.policies:
            _duplicate(lib, loaded, f"policy {model.id}", lib.policies[model.id].source)
        else:
            lib.policies[model.id] = Loaded(model, loaded.source)
    elif isinstance(model, RegionsDoc):
        if lib.regions is not None:
            _duplicate(lib, loaded, "the Regions document", lib.regions.source)
        else:
            lib.regions = Loaded(model, loaded.source)
    elif isinstance(model, RosterDoc):
        if lib.roster is not None:
            _duplicate(lib, loaded, "the Roster", lib.roster.source)
        else:
            lib.roster = Loaded(model, loaded.source)
    elif isinstance(model, RotaDoc):
        if lib.rota is not None:
            _duplicate(lib, loaded, "the Rota", lib.rota.source)
        else:
            lib.rota = Loaded(model, loaded.source)
    elif isinstance(model, DestinationsDoc):
        if lib.destinations is not None:
            _duplicate(lib, loaded, "the Destinations document", lib.destinations.source)
        else:
            lib.destinations = Loaded(model, loaded.source)
    elif isinstance(model, RehearsalDoc):
        lib.rehearsals.append(Loaded(model, loaded.source))
