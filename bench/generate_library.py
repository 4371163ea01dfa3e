"""Generate a realistic synthetic SOP library, deterministically from a seed.

The library holds a Regions document (US, UK, AU), a Roster, nine DisclosurePolicies (three
kinds in each region), ``sops`` SOP documents ``gen-0001``... (6-25 steps of every step type)
and, for every SOP, a UK and/or an AU Variant. Every document lints clean: run this module
to check that (``python bench/generate_library.py``), or pass ``--out DIR`` to keep a library.

Each SOP draws from its own random stream (seeded by the seed and its number), so
``gen-0042`` is the same file whatever ``sops`` is.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    from bench.sop_builder import SopBuilder
except ModuleNotFoundError:  # run as a script: python bench/generate_library.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.sop_builder import SopBuilder
from bench.vocab import (
    API,
    POLICY_KINDS,
    PRIVACY,
    REGIONS,
    SCHEMA_FILE,
    SLAS,
    VARIANT_REGIONS,
    Folded,
    policy_doc,
    policy_id,
    regions_doc,
    roster_doc,
    write_doc,
)

REPO = Path(__file__).resolve().parents[1]
PUBLISHED_SCHEMA = REPO / "sop_definitions" / SCHEMA_FILE
STEP_TYPES = (
    "triage",
    "task",
    "approval",
    "decision",
    "disclosure_check",
    "notify",
    "wait",
    "parallel",
    "postmortem",
    "end",
)


def _jump_targets(steps: list[dict[str, Any]]) -> set[str]:
    targets: set[str] = set()
    for step in steps:
        targets.update(v for k, v in step.items() if k == "next")
        targets.update((step.get("on") or {}).values())
        timeout = step.get("on_timeout")
        if isinstance(timeout, dict):
            targets.add(timeout["goto"])
        if step["type"] == "decision":
            targets.update(b["goto"] for b in step["branches"])
    return targets


def variant_doc(sop: dict[str, Any], region: str, rng: random.Random) -> dict[str, Any]:
    """A ``region`` variant of ``sop``: regional policies, counsel, SLAs, an extra check."""
    steps: list[dict[str, Any]] = sop["steps"]
    close = next(i for i, s in enumerate(steps) if s["id"] == "close")
    main = steps[:close]
    targets = _jump_targets(steps)
    tasks = [s for s in main if s["type"] == "task"]
    removable = [s["id"] for s in main if s["type"] == "notify" and s["id"] not in targets]
    changes: list[dict[str, Any]] = []
    privacy = rng.random() < 0.6
    if privacy:
        changes.append({"add_roles": {PRIVACY[0]: {"description": f"{region} {PRIVACY[1]}"}}})
    for check in (s for s in main if s["type"] == "disclosure_check"):
        kind = check["policy"].split("-", 1)[1]
        regional = policy_id(region, kind)
        if rng.random() < 0.5:
            changes.append({"set": {"step": check["id"], "policy": regional}})
        else:
            body = {**check, "title": f"{region} disclosure check", "policy": regional}
            changes.append({"replace": {"step": check["id"], "with": body}})
    approvals = [s for s in main if s["type"] == "approval"]
    if approvals and privacy and rng.random() < 0.7:
        approve = rng.choice(approvals)["id"]
        changes.append({"set": {"step": approve, "approvers": ["legal", PRIVACY[0], "lead"]}})
    if tasks and rng.random() < 0.7:
        change: dict[str, Any] = {"step": rng.choice(tasks)["id"], "sla": rng.choice(SLAS)}
        if rng.random() < 0.5:
            change["description"] = Folded(
                f"As the base procedure, but through the {region} desk's own contacts; "
                "record the local reference number with the outcome."
            )
        changes.append({"set": change})
    if removable and rng.random() < 0.4:
        removed = rng.choice(removable)
        changes.append({"remove": {"step": removed}})
        main = [s for s in main if s["id"] != removed]
    anchors = [s["id"] for s in main if s["type"] in ("task", "notify")]
    if anchors and rng.random() < 0.6:
        builder = SopBuilder(rng, 0, roles=["responder", "lead", "legal"])
        spoc = builder.task(top=False, verb=f"{region.lower()}_spoc_check")
        spoc["title"] = f"Confirm with the {region} single point of contact"
        changes.append({"insert": {"after": rng.choice(anchors), "steps": [spoc]}})
    if not changes or rng.random() < 0.25:
        changes.append({"set_defaults": {"sla": rng.choice(("20m", "45m"))}})
    return {
        "apiVersion": API,
        "kind": "Variant",
        "id": sop["id"],
        "version": sop["version"],
        "region": region,
        "description": Folded(
            f"The {region} desk's version of {sop['id']}: {region} disclosure law, the "
            f"{REGIONS[region]['team']} team and its hours."
        ),
        "changes": changes,
    }


def generate(root: Path, sops: int = 1000, seed: int = 7) -> int:
    """Write a library of ``sops`` SOPs (each with one or two variants) under ``root``.

    Returns the number of YAML documents written. The published JSON Schema is copied to
    ``root/schema/`` so that every file's modeline resolves; it is not a document.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / SCHEMA_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PUBLISHED_SCHEMA, root / SCHEMA_FILE)
    write_doc(root, "regions.yaml", regions_doc())
    write_doc(root, "roster.yaml", roster_doc())
    files = 2
    for region in REGIONS:
        for kind in POLICY_KINDS:
            write_doc(root, f"policies/{policy_id(region, kind)}.yaml", policy_doc(region, kind))
            files += 1
    for number in range(1, sops + 1):
        rng = random.Random(f"{seed}:{number}")
        sop = SopBuilder(rng, number).build()
        write_doc(root, f"{sop['id']}/v1.yaml", sop)
        files += 1
        roll = rng.random()
        regions = VARIANT_REGIONS if roll < 0.55 else (VARIANT_REGIONS[int(roll * 10) % 2],)
        for region in regions:
            variant = variant_doc(sop, region, rng)
            write_doc(root, f"{sop['id']}/v1-{region.lower()}.yaml", variant)
            files += 1
    return files


def digest(root: Path) -> str:
    """SHA-256 over every generated file's path and bytes."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


NOT_GENERATED = {"set_restricted_to", "set_on_event", "set_correlation"}


def self_check(sops: int = 60, seed: int = 7) -> int:
    """Generate a small library twice; assert it lints clean, covers every step type and
    kind of variant change, and is identical both times. Returns the file count."""
    from sopflow.compile.lint import lint_library
    from sopflow.language.effective import all_steps
    from sopflow.language.models.documents import CHANGE_KINDS

    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp, "a"), Path(tmp, "b")
        count = generate(first, sops, seed)
        assert generate(second, sops, seed) == count
        assert digest(first) == digest(second), "generation is not deterministic"
        result = lint_library(first)
        problems = "\n".join(str(d) for d in result.diagnostics[:20])
        assert not result.diagnostics, f"generated library does not lint clean:\n{problems}"
        lib = result.library
        types = {s.type_name() for e in result.effectives.values() for s in all_steps(e.sop)}
        assert types == set(STEP_TYPES), f"step types not generated: {set(STEP_TYPES) - types}"
        kinds = {
            next(iter(type(c).model_fields)) for v in lib.variants.values() for c in v.model.changes
        }
        # Changes whose content depends on one SOP's audience, events or input are left to the
        # corpus and the unit tests: the generated variants use the general ones.
        expected = set(CHANGE_KINDS) - NOT_GENERATED
        assert kinds == expected, f"changes not generated: {expected - kinds}"
        text = "\n".join(p.read_text() for p in sorted(first.rglob("*.yaml")))
        assert "{{ " in text and "when: " in text and "rejected: refuse" in text
        assert len(result.plans) == count - 11, "every SOP and variant should compile"
    return count


def main(argv: list[str] | None = None) -> int:
    """``generate_library.py [--out DIR] [--sops N] [--seed S]``; self-check without --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, help="write the library here instead of checking")
    parser.add_argument("--sops", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.out is None:
        count = self_check(args.sops or 60, args.seed)
        print(f"ok: {count} generated files lint clean, cover every step type, deterministic")
        return 0
    count = generate(args.out, args.sops or 1000, args.seed)
    print(f"wrote {count} documents to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
