"""Go to definition: from a step id, a role, a policy or an event to where it is declared,
in the same file or in the library (a variant's base, a rehearsal's SOP, a policy file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pygls.workspace.position_codec import ServerTextPosition

from sopflow.language.library import Library, Loaded
from sopflow.language.models import SopDoc
from sopflow.language.yaml_source import SourceDoc
from sopflow.lsp.cursor import entry_region, hit_at
from sopflow.lsp.overlay import Overlay
from sopflow.lsp.ranges import span
from sopflow.lsp.references import Ref, Symbols, Target, classify, symbols_of

# `steps.assess` or `steps["assess-2"]` in a CEL expression or a `{{ }}` placeholder.
_CEL_STEP = re.compile(r"""\bsteps(?:\.([a-z][a-z0-9_]*)|\[\s*["']([a-z][a-z0-9_-]*)["']\s*\])""")


def cel_step_at(line: str, col: int) -> str | None:
    """The step id of the ``steps.<id>`` reference that ``col`` is in, if any."""
    for match in _CEL_STEP.finditer(line):
        if match.start() <= col <= match.end():
            return match[1] or match[2]
    return None


def _sop(lib: Library, sop_id: object, version: object) -> Loaded[SopDoc] | None:
    """The SOP ``sop_id`` at ``version``, as the document wrote them (any types)."""
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    return lib.sops.get((str(sop_id), version))


def _symbols_from(overlay: Overlay, loaded: Loaded[Any] | None) -> Symbols:
    if loaded is None:
        return Symbols()
    real = overlay.real_path(loaded.source.path)
    return symbols_of(loaded.source, real) if real is not None else Symbols()


def _rehearsed(overlay: Overlay, data: dict[str, Any]) -> Symbols:
    """The names of the SOP a rehearsal runs: its base, and its variant for the region."""
    lib = overlay.result.library
    sop_id, _, version_text = str(data.get("sop", "")).partition("@")
    versions = lib.versions(sop_id)
    if not versions:
        return Symbols()
    if version_text.isdigit():
        version = int(version_text)
    else:
        version = overlay.result.lock.default_version(sop_id, versions)
    base = lib.sops.get((sop_id, version))
    variant = lib.variants.get((sop_id, version, str(data.get("region"))))
    return _symbols_from(overlay, variant).merge(_symbols_from(overlay, base))


def library_symbols(doc: SourceDoc, file: Path, overlay: Overlay | None) -> Symbols:
    """The names ``doc`` may refer to: its own, and for a variant its base's, for a
    rehearsal its SOP's."""
    own = symbols_of(doc, file)
    data = doc.data if isinstance(doc.data, dict) else {}
    if overlay is None:
        return own
    if data.get("kind") == "Variant":
        base = _sop(overlay.result.library, data.get("id"), data.get("version"))
        return own.merge(_symbols_from(overlay, base))
    if data.get("kind") == "Rehearsal":
        return own.merge(_rehearsed(overlay, data))
    return own


def _policy(overlay: Overlay, name: str) -> list[Target]:
    loaded = overlay.result.library.policies.get(name)
    real = overlay.real_path(loaded.source.path) if loaded else None
    if loaded is None or real is None:
        return []
    where = entry_region(loaded.source, ("id",)) or span(0, 0, 0)
    return [Target(real, where, "policy")]


def _old_step(overlay: Overlay, data: dict[str, Any], name: str) -> list[Target]:
    moved = data.get("migrates_from")
    if not isinstance(moved, dict):
        return []
    old = _sop(overlay.result.library, data.get("id"), moved.get("version"))
    found = _symbols_from(overlay, old).steps.get(name)
    return [found] if found else []


def definition(
    doc: SourceDoc, file: Path, pos: ServerTextPosition, overlay: Overlay | None
) -> list[Target]:
    """Where the name under ``pos`` is declared (several places for an event that more
    than one wait step takes); empty when there is no name there."""
    hit = hit_at(doc, pos)
    data = doc.data if isinstance(doc.data, dict) else {}
    if hit is None:
        return []
    ref, name = classify(data, hit), hit.text
    if ref is None and not hit.is_key and pos.line < len(doc.lines):
        cel = cel_step_at(doc.lines[pos.line], pos.character)
        ref, name = (Ref.STEP, cel) if cel else (None, name)
    symbols = library_symbols(doc, file, overlay)
    if ref is Ref.STEP and name in symbols.steps:
        return [symbols.steps[name]]
    if ref is Ref.ROLE and name in symbols.roles:
        return [symbols.roles[name]]
    if ref is Ref.EVENT:
        return list(symbols.waits.get(name, []))
    if overlay is not None and ref is Ref.POLICY:
        return _policy(overlay, name)
    if overlay is not None and ref is Ref.OLD_STEP:
        return _old_step(overlay, data, name)
    return []
