"""The SOP library: the procedures, their versions and regions, and each one's compiled plan
and graph. Read from the library on disk, linted again whenever a file changes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, assert_never

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from sopflow.api.context import Caller, Linted
from sopflow.api.models import REGION_PATTERN, SOP_ID_PATTERN
from sopflow.api.problems import NOT_FOUND, REFUSED, Problem
from sopflow.client.queues import holders
from sopflow.compile.graph import to_dot, to_mermaid
from sopflow.compile.graph_svg import to_svg
from sopflow.compile.lint import LintResult
from sopflow.contract.plan import ApprovalPlan, ParallelPlan, Plan, PlanStep, TaskPlan

router = APIRouter(tags=["catalog"])

SopIdPath = Annotated[str, Path(pattern=SOP_ID_PATTERN, description="The SOP's id")]
VersionPath = Annotated[int, Path(ge=1, le=1_000_000, description="The SOP's version")]
RegionQuery = Annotated[
    str | None,
    Query(pattern=REGION_PATTERN, description="A region code (default: the base region)"),
]


class SopVersionRef(BaseModel):
    """One version of an SOP and the regions it is written for."""

    version: int
    title: str
    base_region: str
    regions: list[str]


class SopSummary(BaseModel):
    """An SOP in the library: its latest title and every version."""

    id: str
    title: str
    versions: list[SopVersionRef]


class StepView(BaseModel):
    """One step of a compiled plan."""

    id: str
    type: str
    title: str
    description: str | None = None
    roles: list[str] = Field(default_factory=list, description="Who acts on it (tasks, approvals)")
    sla_s: int | None = None
    form: dict[str, Any] | None = Field(None, description="A task's form (JSON Schema)")
    within: str | None = Field(None, description="The parallel step it is a branch of")


class RegionPlan(BaseModel):
    """One version of an SOP as one region runs it; ``runnable`` is false when it does not
    compile (`sopflow lint` says why)."""

    region: str
    runnable: bool
    plan_hash: str | None = None
    input_schema: dict[str, Any] | None = None
    steps: list[StepView] = Field(default_factory=list)


class SopVersionView(BaseModel):
    """One version of an SOP with the plan of each region."""

    id: str
    version: int
    title: str
    owner: str
    description: str
    base_region: str
    regions: list[RegionPlan]


class GraphFormat(StrEnum):
    """The graph's format: Mermaid or Graphviz DOT text, or an SVG drawing."""

    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


# An SVG opened on its own is a document: it may run nothing and load nothing (its own
# <style> aside), whatever it holds.
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def regions_of(result: LintResult, sop_id: str, version: int) -> list[str]:
    """The base region and every variant's region of one SOP version, sorted."""
    lib = result.library
    base = lib.sops[(sop_id, version)].model
    variants = [r for (i, v, r) in lib.variants if (i, v) == (sop_id, version)]
    return sorted({base.region, *variants})


def _versions(result: LintResult, sop_id: str) -> list[int]:
    versions = result.library.versions(sop_id)
    if not versions:
        raise Problem(NOT_FOUND, f"no SOP {sop_id!r}")
    return versions


def resolve_plan(result: LintResult, sop_id: str, version: int | None, region: str | None) -> Plan:
    """The compiled plan of ``sop_id@version`` (default: the latest not retired) in
    ``region`` (default: the base's); 404 when there is no such SOP, version or region, 409
    when it does not compile."""
    versions = _versions(result, sop_id)
    chosen = result.lock.default_version(sop_id, versions) if version is None else version
    if chosen not in versions:
        raise Problem(NOT_FOUND, f"{sop_id} has no version {chosen} (versions: {versions})")
    base = result.library.sops[(sop_id, chosen)].model
    code = region or base.region
    plan = result.plans.get((sop_id, chosen, code))
    if plan is not None:
        return plan
    regions = regions_of(result, sop_id, chosen)
    if code not in regions:
        raise Problem(
            NOT_FOUND,
            f"{sop_id}@{chosen} has no {code} variant (regions: {', '.join(regions)}); an SOP "
            "written for one region is never run unchanged in another",
        )
    raise Problem(REFUSED, f"{sop_id}@{chosen} ({code}) does not compile; `sopflow lint` says why")


def step_views(steps: list[PlanStep], within: str | None = None) -> list[StepView]:
    """Every step, depth first, the steps of parallel branches after their parallel step."""
    out = []
    for step in steps:
        out.append(
            StepView(
                id=step.id,
                type=step.type,
                title=step.title,
                description=step.description,
                roles=holders(step),
                sla_s=step.sla_s if isinstance(step, TaskPlan | ApprovalPlan) else None,
                form=step.form if isinstance(step, TaskPlan) else None,
                within=within,
            )
        )
        if isinstance(step, ParallelPlan):
            for branch in step.branches:
                out.extend(step_views(branch.steps, within=step.id))
    return out


def _summary(result: LintResult, sop_id: str) -> SopSummary:
    lib = result.library
    refs = []
    for version in _versions(result, sop_id):
        base = lib.sops[(sop_id, version)].model
        regions = regions_of(result, sop_id, version)
        refs.append(
            SopVersionRef(
                version=version, title=base.title, base_region=base.region, regions=regions
            )
        )
    return SopSummary(id=sop_id, title=refs[-1].title, versions=refs)


@router.get("/sops", summary="List the SOPs")
async def list_sops(_person: Caller, result: Linted) -> list[SopSummary]:
    """Every SOP in the library with its versions and the regions of each."""
    ids = sorted({sop_id for sop_id, _ in result.library.sops})
    return [_summary(result, sop_id) for sop_id in ids]


@router.get("/sops/{sop_id}", summary="One SOP")
async def get_sop(sop_id: SopIdPath, _person: Caller, result: Linted) -> SopSummary:
    """One SOP's versions and their regions."""
    return _summary(result, sop_id)


@router.get("/sops/{sop_id}/versions/{version}", summary="One SOP version")
async def get_version(
    sop_id: SopIdPath, version: VersionPath, _person: Caller, result: Linted
) -> SopVersionView:
    """One version: for each region, whether it compiles, its plan hash, its input schema
    and its steps."""
    if version not in _versions(result, sop_id):
        raise Problem(NOT_FOUND, f"{sop_id} has no version {version}")
    base = result.library.sops[(sop_id, version)].model
    regions = []
    for code in regions_of(result, sop_id, version):
        plan = result.plans.get((sop_id, version, code))
        if plan is None:
            regions.append(RegionPlan(region=code, runnable=False))
            continue
        regions.append(
            RegionPlan(
                region=code,
                runnable=not result.errors_in((sop_id, version, code)),
                plan_hash=plan.plan_hash,
                input_schema=plan.input_schema,
                steps=step_views(plan.steps),
            )
        )
    return SopVersionView(
        id=sop_id,
        version=version,
        title=base.title,
        owner=base.owner,
        description=base.description,
        base_region=base.region,
        regions=regions,
    )


@router.get("/sops/{sop_id}/versions/{version}/plan", summary="The compiled plan")
async def get_plan(
    sop_id: SopIdPath,
    version: VersionPath,
    _person: Caller,
    result: Linted,
    region: RegionQuery = None,
) -> dict[str, Any]:
    """The plan an incident of this version runs in ``region``, as ``sopflow compile``
    prints it."""
    return resolve_plan(result, sop_id, version, region).model_dump(mode="json")


@router.get(
    "/sops/{sop_id}/versions/{version}/graph",
    summary="The plan as a graph",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Mermaid or DOT as text/plain; with `format=svg`, an SVG drawing",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "image/svg+xml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def get_graph(
    sop_id: SopIdPath,
    version: VersionPath,
    _person: Caller,
    result: Linted,
    region: RegionQuery = None,
    format: Annotated[
        GraphFormat, Query(description="mermaid, dot (text) or svg (image/svg+xml)")
    ] = GraphFormat.mermaid,
) -> Response:
    """Every step, branch and outcome as a Mermaid flowchart or Graphviz DOT (text), or drawn
    as a standalone SVG (`image/svg+xml`), the same as `sopflow graph`."""
    plan = resolve_plan(result, sop_id, version, region)
    match format:
        case GraphFormat.mermaid:
            return PlainTextResponse(to_mermaid(plan))
        case GraphFormat.dot:
            return PlainTextResponse(to_dot(plan))
        case GraphFormat.svg:
            return Response(to_svg(plan), media_type="image/svg+xml", headers=SVG_HEADERS)
        case _:
            assert_never(format)
