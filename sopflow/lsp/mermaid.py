"""The `sopflow.mermaid` command: the Mermaid graph of the plan an SOP (or a variant)
compiles to, exactly as `sopflow graph --format mermaid` prints it."""

from __future__ import annotations

from pathlib import Path

from sopflow.compile.graph import to_mermaid
from sopflow.compile.lint import EffKey
from sopflow.language.diagnostics import Severity
from sopflow.lsp.overlay import Overlay


class PreviewError(Exception):
    """Why there is no graph to show; the message is for the author."""


def _key_of(overlay: Overlay, file: Path, region: str | None) -> EffKey:
    lib = overlay.result.library
    for (sop_id, version), base in lib.sops.items():
        if overlay.real_path(base.source.path) == file:
            return sop_id, version, region or base.model.region
    for key, variant in lib.variants.items():
        if overlay.real_path(variant.source.path) == file:
            return key
    raise PreviewError(
        f"{file.name} is not an SOP or a variant that loads: only procedures have a graph "
        "(fix the errors shown in the file first)"
    )


def mermaid_preview(overlay: Overlay, file: Path, region: str | None = None) -> str:
    """The Mermaid text of the plan of the SOP or variant in ``file`` (for an SOP, in
    ``region`` when given, else its own region)."""
    sop_id, version, code = _key_of(overlay, file, region)
    lib = overlay.result.library
    base = lib.sops.get((sop_id, version))
    known = {base.model.region} if base else set()
    known |= {r for (i, v, r) in lib.variants if (i, v) == (sop_id, version)}
    if base is not None and code not in known:
        regions = ", ".join(sorted(known))
        raise PreviewError(f"{sop_id}@{version} has no {code} variant (regions: {regions})")
    plan = overlay.result.plans.get((sop_id, version, code))
    if plan is not None:
        return to_mermaid(plan)
    errors = [d for d in overlay.diagnostics().get(file, []) if d.severity is Severity.ERROR]
    why = f"{len(errors)} error(s) in this file" if errors else "errors elsewhere in the library"
    raise PreviewError(f"{sop_id}@{version} ({code}) does not compile: fix {why} first")
