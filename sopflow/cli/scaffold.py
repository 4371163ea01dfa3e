"""Scaffolding: ``sopflow init DIR`` and ``sopflow new sop|variant|policy|rehearsal``.

Each writes files from the templates in :mod:`sopflow.cli.templates` that lint clean in a
library made by ``init``, with the editor modeline pointing at the library's schema from the
file's own folder. None overwrites a file: each refuses (exit 1) and names it. Each prints
the path it wrote and the command to run next.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
import yaml

from sopflow.cli import templates
from sopflow.cli.authoring import DefinitionsOpt, fail, load_linted, resolve, schema
from sopflow.cli.templates import example_value
from sopflow.contract.plan import EndPlan, ParallelPlan, Plan, PlanStep, TaskPlan
from sopflow.language.library import Library, default_definitions, load_library
from sopflow.language.schema import SCHEMA_PATH

ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
REGION_PATTERN = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")
TIMEZONES = {"US": "America/New_York", "UK": "Europe/London", "AU": "Australia/Sydney"}


def _root(definitions: Path | None) -> Path:
    root = definitions or default_definitions()
    if not root.is_dir():
        raise fail(f"{root} is not a library: make one with `sopflow init {root}`")
    return root


def _write(root: Path, relative: str, template: str, **fields: Any) -> Path:
    """Fill ``template`` and write it to ``root/relative``; refuse an existing file."""
    path = root / relative
    if path.exists():
        raise fail(f"{path} already exists: nothing written (sopflow never overwrites a file)")
    folder = os.path.relpath(root, path.parent)
    schema_path = SCHEMA_PATH if folder == "." else f"{Path(folder).as_posix()}/{SCHEMA_PATH}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template.format(schema=schema_path, root=root, **fields), encoding="utf-8")
    return path


def _done(path: Path, next_command: str) -> None:
    print(f"wrote {path}")
    print(f"next: {next_command}")


def _region(lib: Library, region: str | None) -> str:
    """``region`` upper-cased (default: the first in regions.yaml), refused when the library's
    Regions document does not list it."""
    codes = lib.region_codes()
    listed = list(lib.regions.model.regions) if lib.regions else ["US"]
    code = (region or listed[0]).upper()
    if not REGION_PATTERN.match(code):
        raise fail(f"{code!r} is not a region code (upper-case letters, e.g. US, UK, AU)")
    if lib.regions is not None and codes is not None and code not in codes:
        raise fail(
            f"region {code} is not in {lib.regions.source.path} (regions: {', '.join(codes)}); "
            "add its desk there first"
        )
    return code


def _check_id(value: str, what: str) -> str:
    if not ID_PATTERN.match(value):
        raise fail(
            f"{value!r} is not a valid {what} id: lower-case letters, digits and -, "
            "starting with a letter, 2-63 characters (e.g. livestream-self-harm)"
        )
    return value


def _ref(lib: Library, ref: str) -> tuple[str, int]:
    """``id[@version]`` of an SOP in the library (default: its latest version)."""
    sop_id, _, version_text = ref.partition("@")
    versions = lib.versions(sop_id)
    if not versions:
        known = sorted({i for i, _ in lib.sops})
        raise fail(f"no SOP {sop_id!r} in {lib.root} (SOPs: {', '.join(known) or 'none'})")
    if version_text and (not version_text.isdigit() or int(version_text) not in versions):
        raise fail(f"{ref!r}: {sop_id} has versions {versions}")
    return sop_id, int(version_text) if version_text else versions[-1]


def init(
    directory: Path | None = typer.Argument(
        None, metavar="DIR", help="The new library (default: -d, then ./sop_definitions)."
    ),
    definitions: Path | None = DefinitionsOpt,
    region: str = typer.Option("US", "--region", "-r", help="The first desk's region code."),
) -> None:
    """Make a new SOP library that lints clean: regions, roster, schema and a README."""
    root = directory or definitions or default_definitions()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise fail(f"{root} exists and is not empty: choose a new folder")
    code = region.upper()
    if not REGION_PATTERN.match(code):
        raise fail(f"{region!r} is not a region code (upper-case letters, e.g. US, UK, AU)")
    root.mkdir(parents=True, exist_ok=True)
    timezone = TIMEZONES.get(code, "UTC")
    team = f"risk-response-{code.lower()}"
    schema(write=True, definitions=root)  # as `sopflow schema --write` does; it says so
    for path in (
        _write(root, "regions.yaml", templates.REGIONS, region=code, timezone=timezone, team=team),
        _write(root, "roster.yaml", templates.ROSTER, region=code),
        _write(root, "README.md", templates.README, name=root.resolve().name),
    ):
        print(f"wrote {path}")
    print(f"next: sopflow new sop my-first-sop -d {root}")


def new_sop(
    sop_id: str = typer.Argument(..., metavar="ID", help="The SOP's id, e.g. welfare-check."),
    region: str | None = typer.Option(
        None, "--region", "-r", help="Its desk (default: the first in regions.yaml)."
    ),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Write ID/v1.yaml: a minimal SOP (triage, a task with a form, an end) to edit."""
    root = _root(definitions)
    lib = load_library(root)
    _check_id(sop_id, "SOP")
    if lib.versions(sop_id):
        raise fail(f"{root} already has an SOP {sop_id!r}: nothing written")
    title = sop_id.replace("-", " ").capitalize()
    path = _write(
        root,
        f"{sop_id}/v1.yaml",
        templates.SOP,
        id=sop_id,
        title=title,
        region=_region(lib, region),
    )
    _done(path, f"edit it, then sopflow lint -d {root}")


def new_variant(
    ref: str = typer.Argument(..., metavar="ID@VERSION"),
    region: str = typer.Option(..., "--region", "-r", help="The desk it adapts the SOP for."),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Write ID/v{VERSION}-{region}.yaml: a variant of a base version with one example change."""
    root = _root(definitions)
    lib = load_library(root)
    sop_id, version = _ref(lib, ref)
    code = _region(lib, region)
    base = lib.sops[(sop_id, version)].model
    if code == base.region:
        raise fail(f"{sop_id}@{version} is written for {code}: a variant adapts it for another")
    if (sop_id, version, code) in lib.variants:
        where = lib.variants[(sop_id, version, code)].source.path
        raise fail(f"{sop_id}@{version} already has a {code} variant in {where}")
    step = next((s.id for s in base.steps if s.type == "task"), base.steps[0].id)
    path = _write(
        root,
        f"{sop_id}/v{version}-{code.lower()}.yaml",
        templates.VARIANT,
        id=sop_id,
        version=version,
        region=code,
        step=step,
    )
    _done(path, f"sopflow compile {sop_id}@{version} --region {code} -d {root}")


def new_policy(
    policy_id: str = typer.Argument(..., metavar="ID", help="The policy's id, e.g. us-welfare."),
    jurisdiction: str = typer.Option(..., "--jurisdiction", "-j", help="Its region code."),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Write policies/ID.yaml: a disclosure policy with its default rule."""
    root = _root(definitions)
    lib = load_library(root)
    _check_id(policy_id, "policy")
    if policy_id in lib.policies:
        where = lib.policies[policy_id].source.path
        raise fail(f"a policy {policy_id!r} already exists in {where}: nothing written")
    code = _region(lib, jurisdiction)
    path = _write(
        root, f"policies/{policy_id}.yaml", templates.POLICY, id=policy_id, jurisdiction=code
    )
    _done(
        path,
        f"name it in a disclosure_check step (policy: {policy_id}), then sopflow lint -d {root}",
    )


def new_rehearsal(
    ref: str = typer.Argument(..., metavar="ID@VERSION"),
    name: str = typer.Argument(..., metavar="NAME", help="The file's name, e.g. happy-path."),
    region: str | None = typer.Option(
        None, "--region", "-r", help="The region it plays in (default: the base SOP's)."
    ),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Write ID/rehearsals/NAME.yaml: input and a first action that fit the SOP."""
    root = _root(definitions)
    name = name.removesuffix(".yaml")
    if not NAME_PATTERN.match(name):
        raise fail(f"{name!r}: name it with lower-case letters, digits, -, _ and . only")
    result = load_linted(root)
    sop_id, version = _ref(result.library, ref)
    code = _region(result.library, region) if region else None
    plan = resolve(result, f"{sop_id}@{version}", code)
    relative = f"{sop_id}/rehearsals/{name}.yaml"
    fields = rehearsal_fields(plan, result.library, name)
    path = _write(root, relative, templates.REHEARSAL, path=root / relative, **fields)
    _done(path, f"sopflow rehearse {path} -d {root} -v")


def rehearsal_fields(plan: Plan, lib: Library, name: str) -> dict[str, Any]:
    """What the rehearsal template needs, from the compiled plan: an input with its required
    fields, the first task completed with its form's, and the first end step's outcome."""
    steps = list(_walk(plan.steps))
    task = next((s for s in steps if isinstance(s, TaskPlan)), None)
    end = next((s for s in plan.steps if isinstance(s, EndPlan)), None)
    region = plan.region.code
    if task is None:
        first_action, actions = "", "actions: []"
    else:
        person = _person(lib, task.assignee, region)
        data = _flow(example_value(task.form))
        first_action = f" The first action completes `{task.id}` with its form's."
        actions = templates.REHEARSAL_ACTION.format(step=task.id, person=person, data=data)
    expect = (
        templates.REHEARSAL_EXPECT.format(outcome=_flow(end.outcome))
        if end is not None
        else "expect: {}   # write what must happen, e.g. path: [...]"
    )
    return {
        "id": plan.sop.id,
        "version": plan.sop.version,
        "region": region,
        "description": _flow(name.replace("-", " ").replace("_", " ").capitalize()),
        "input": _flow(example_value(plan.input_schema)),
        "first_action": first_action,
        "actions": actions,
        "expect": expect,
    }


def _walk(steps: list[PlanStep]) -> Iterator[PlanStep]:
    """Every step, those inside parallel branches after their parallel step."""
    for step in steps:
        yield step
        if isinstance(step, ParallelPlan):
            for branch in step.branches:
                yield from _walk(branch.steps)


def _person(lib: Library, role: str, region: str) -> str:
    """A Roster person who may act as ``role`` on ``region``'s desk (else any holder)."""
    people = lib.roster.model.people if lib.roster else {}
    on_desk = [
        h
        for h, p in people.items()
        if (p.region == region and role in p.roles) or role in p.desks.get(region, [])
    ]
    anywhere = [h for h, p in people.items() if role in p.roles]
    return (on_desk or anywhere or sorted(people) or ["someone"])[0]


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a flow mapping or list, or a scalar)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000)
    return text.removesuffix("\n...\n").strip()
