"""The SOP library: every SOP with its versions and regions; one SOP's version as a region
runs it (steps and graph); and what changed between two versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Path, Request
from markupsafe import Markup
from starlette.responses import Response

from sopflow.api.catalog import get_sop, get_version, list_sops, resolve_plan
from sopflow.api.models import SOP_ID_PATTERN
from sopflow.api.problems import Problem
from sopflow.compile.diff import PlanDiff, diff_plans
from sopflow.compile.graph_svg import to_svg
from sopflow.compile.lint import LintResult
from sopflow.web.visits import console_of

SopId = Annotated[str, Path(pattern=SOP_ID_PATTERN)]


def shown(value: Any) -> str:
    """A plan value as short text (the diff's old and new values)."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def _number(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() and len(text) < 8 else default


def compare(
    result: LintResult, sop_id: str, region: str, old: int, new: int
) -> tuple[PlanDiff | None, str | None]:
    """The diff of two versions in one region, or why there is none."""
    try:
        before = resolve_plan(result, sop_id, old, region)
        after = resolve_plan(result, sop_id, new, region)
    except Problem as problem:
        return None, str(problem)
    return diff_plans(before, after), None


async def sops_page(request: Request) -> Response:
    """``GET /console/sops``: every SOP, its versions and their regions."""
    console = console_of(request)
    visit = await console.visit(request)
    result = await visit.parts.catalog.result()
    sops = await list_sops(_person=visit.person, result=result)
    return console.page(request, visit, "sops.html", sops=sops)


async def sop_page(request: Request, sop_id: SopId) -> Response:
    """``GET /console/sops/{id}?version=&region=&from=&to=``: one version in one region,
    its steps and graph; with ``from`` and ``to``, what changed between two versions."""
    console = console_of(request)
    visit = await console.visit(request)
    result = await visit.parts.catalog.result()
    sop = await get_sop(sop_id=sop_id, _person=visit.person, result=result)
    numbers = [v.version for v in sop.versions]
    query = request.query_params
    version = _number(query.get("version"), numbers[-1])
    view = await get_version(sop_id=sop_id, version=version, _person=visit.person, result=result)
    region = query.get("region") or view.base_region
    plan = resolve_plan(result, sop_id, version, region)
    old = _number(query.get("from"), numbers[0])
    new = _number(query.get("to"), numbers[-1])
    diff, no_diff = compare(result, sop_id, region, old, new) if "from" in query else (None, None)
    return console.page(
        request,
        visit,
        "sop.html",
        sop=sop,
        view=view,
        version=version,
        region=region,
        region_plan=next(r for r in view.regions if r.region == region),
        # to_svg escapes every text it draws from the SOP and writes presentation
        # attributes only; without embed_style there is no <style>: safe under the CSP.
        graph=Markup(to_svg(plan, embed_style=False)),  # noqa: S704
        diff=diff,
        no_diff=no_diff,
        old=old,
        new=new,
        shown=shown,
    )


ROUTES = (("/sops", sops_page, ("GET",)), ("/sops/{sop_id}", sop_page, ("GET",)))
