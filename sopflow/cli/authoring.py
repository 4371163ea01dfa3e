"""Authoring commands: lint, compile, graph, diff, publish, schema.

Exit codes: 0 success (warnings allowed), 1 a problem in the SOPs or the request, 2 a usage
error (reported by typer). Diagnostics go to stdout for ``lint`` (they are its output) and to
stderr for every other command, whose stdout carries the result.
"""

from __future__ import annotations

import gc
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from sopflow.compile.diff import diff_plans, render_diff
from sopflow.compile.graph import to_dot, to_mermaid
from sopflow.compile.graph_svg import to_svg
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.plan import Plan
from sopflow.language.diagnostics import Diagnostic, Severity, has_errors, render_json, render_text
from sopflow.language.library import default_definitions
from sopflow.language.lockfile import write_lock
from sopflow.language.schema import SCHEMA_PATH, schema_text


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


DefinitionsOpt = typer.Option(
    None,
    "--definitions",
    "-d",
    help="Library root (default: $SOPFLOW_DEFINITIONS, then ./sop_definitions).",
    show_default=False,
)
RegionOpt = typer.Option(None, "--region", "-r", help="Region (default: the base SOP's).")


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


def _summary(diags: list[Diagnostic], files: int, folded: int = 0) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = len(diags) - errors
    if not diags:
        return f"ok: {files} files, no problems"
    plural = {1: ""}
    more = (
        f"; {folded} more follow from these and are not shown (fix these first, or see "
        "them with --all)"
        if folded
        else ""
    )
    return (
        f"{errors} error{plural.get(errors, 's')}, "
        f"{warnings} warning{plural.get(warnings, 's')} in {files} files{more}"
    )


def _short_lived() -> None:
    """These commands run once and exit: the cyclic collector would only re-walk the whole
    library's objects (twice, as they age) after lint, for nothing to free."""
    gc.disable()


def load_linted(definitions: Path | None) -> LintResult:
    """The library at ``definitions`` (default: $SOPFLOW_DEFINITIONS), linted; exit 1 when
    it is not a directory."""
    _short_lived()
    root = definitions or default_definitions()
    if not root.is_dir():
        raise fail(f"{root} is not a directory of SOP definitions")
    return lint_library(root)


def lint(
    dirs: list[Path] = typer.Argument(None, help="Library roots (default: sop_definitions)."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f"),
    show_all: bool = typer.Option(
        False,
        "--all",
        help="Also list the problems that follow from others (a rehearsal of an SOP with "
        "errors); by default they are counted, not listed.",
    ),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Check every document; exit 1 on any error. Root causes come first: the shared
    documents, then SOPs, variants and rehearsals."""
    _short_lived()
    roots = [*(dirs or []), *([definitions] if definitions else [])] or [default_definitions()]
    diags: list[Diagnostic] = []
    folded: list[Diagnostic] = []
    files = 0
    for root in roots:
        if not root.is_dir():
            diags.append(Diagnostic(str(root), 1, 1, "E107", "not a directory of SOP definitions"))
            continue
        result = lint_library(root)
        diags += result.diagnostics
        folded += result.folded
        files += result.library.files
    shown = [*diags, *folded] if show_all else diags
    if output is OutputFormat.json:
        print(render_json(shown))
    elif shown:
        print(render_text(shown))
    print(_summary(shown, files, 0 if show_all else len(folded)), file=sys.stderr)
    raise typer.Exit(1 if has_errors([*diags, *folded]) else 0)


def resolve(result: LintResult, ref: str, region: str | None) -> Plan:
    """The plan for ``id[@version]`` in ``region``, or exit 1 saying why there is none."""
    sop_id, _, version_text = ref.partition("@")
    lib = result.library
    versions = lib.versions(sop_id)
    if not versions:
        known = sorted({i for i, _ in lib.sops})
        raise fail(f"no SOP {sop_id!r} in {lib.root} (SOPs: {', '.join(known) or 'none'})")
    if version_text and not version_text.isdigit():
        raise fail(f"{ref!r}: a version is a positive whole number, e.g. {sop_id}@{versions[-1]}")
    version = int(version_text) if version_text else result.lock.default_version(sop_id, versions)
    if version not in versions:
        raise fail(f"{sop_id} has no version {version} (versions: {versions})")
    base = lib.sops[(sop_id, version)].model
    region = region or base.region
    key = (sop_id, version, region)
    plan = result.plans.get(key)
    if plan is not None:
        return plan
    regions = sorted(
        [base.region] + [r for (i, v, r) in lib.variants if (i, v) == (sop_id, version)]
    )
    if region not in regions:
        raise fail(
            f"{sop_id}@{version} has no {region} variant (regions: {', '.join(regions)}); "
            "an SOP written for one region is never run unchanged in another"
        )
    relevant = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    if relevant:
        print(render_text(relevant), file=sys.stderr)
    raise fail(f"{sop_id}@{version} ({region}) does not compile; fix the errors above")


def compile_cmd(
    ref: str = typer.Argument(..., metavar="SOP[@VERSION]"),
    region: str | None = RegionOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Print the compiled plan as JSON."""
    plan = resolve(load_linted(definitions), ref, region)
    print(json.dumps(plan.model_dump(mode="json"), indent=2, ensure_ascii=False))


def graph(
    ref: str = typer.Argument(..., metavar="SOP[@VERSION]"),
    region: str | None = RegionOpt,
    output: GraphFormat = typer.Option(GraphFormat.mermaid, "--format", "-f"),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Print the SOP as a Mermaid or Graphviz DOT graph, or draw it as SVG."""
    plan = resolve(load_linted(definitions), ref, region)
    render = {GraphFormat.mermaid: to_mermaid, GraphFormat.dot: to_dot, GraphFormat.svg: to_svg}
    print(render[output](plan), end="")


def diff(
    old: str = typer.Argument(..., metavar="SOP@A"),
    new: str = typer.Argument(..., metavar="SOP@B"),
    region: str | None = RegionOpt,
    output: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f"),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Show steps added, removed and changed between two versions (compiled plans)."""
    result = load_linted(definitions)
    a, b = resolve(result, old, region), resolve(result, new, region)
    changes = diff_plans(a, b)
    if output is OutputFormat.json:
        print(json.dumps(changes.to_json(), indent=2, ensure_ascii=False))
    else:
        name_a = f"{a.sop.id}@{a.sop.version} ({a.region.code})"
        name_b = f"{b.sop.id}@{b.sop.version} ({b.region.code})"
        print(render_diff(changes, name_a, name_b), end="")


def publish(definitions: Path | None = DefinitionsOpt) -> None:
    """Record the plan hash of every version and region in sopflow.lock."""
    result = load_linted(definitions)
    if not result.ok:
        print(render_text(result.diagnostics), file=sys.stderr)
        raise fail("nothing published: the library has errors")
    lock = result.lock
    added = []
    for (sop_id, version, region), plan in sorted(result.plans.items()):
        entry = lock.published.setdefault(f"{sop_id}@{version}", {})
        if region not in entry:
            entry[region] = plan.plan_hash
            lock.parts.setdefault(f"{sop_id}@{version}", {})[region] = plan.part_hashes()
            added.append(f"{sop_id}@{version} ({region}) {plan.plan_hash[:12]}")
    write_lock(lock)
    for line in added:
        print(f"published {line}")
    print(
        f"{lock.path}: {sum(len(v) for v in lock.published.values())} plans locked", file=sys.stderr
    )


def schema(
    write: bool = typer.Option(False, "--write", help="Write it to the library's schema file."),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Print the JSON Schema of every document kind."""
    if write:
        target = (definitions or default_definitions()) / SCHEMA_PATH
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
        return
    print(schema_text(), end="")
