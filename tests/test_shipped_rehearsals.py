"""Every shipped rehearsal passes on the real time-skipping test server, and every shipped
SOP family has, in every region its latest version runs in, a happy path, a rejection and an
SLA breach that escalates."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from sopflow.cli.rehearse import DEFAULT_JOBS
from sopflow.compile.lint import lint_library
from sopflow.contract.plan import EndPlan
from sopflow.rehearsal.batch import Result, rehearse_all
from sopflow.rehearsal.cases import collect
from sopflow.rehearsal.coverage import coverage
from tests.conftest import SHIPPED

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def played() -> tuple[list[Result], dict[tuple[str, int, str], str]]:
    result = lint_library(SHIPPED)
    found = collect([], result)
    assert not found.blocked, found.blocked
    results = asyncio.run(rehearse_all(found.ready, jobs=DEFAULT_JOBS))
    # The "successful" outcome of a plan: its first end step's.
    happy = {
        key: next(s.outcome for s in plan.steps_by_id().values() if isinstance(s, EndPlan))
        for key, plan in result.plans.items()
    }
    return results, happy


def test_every_shipped_rehearsal_passes(
    played: tuple[list[Result], dict[tuple[str, int, str], str]],
) -> None:
    results, _ = played
    failures = {
        r.case.name: r.error or [m.summary for m in r.mismatches] for r in results if not r.passed
    }
    assert not failures
    assert results


def test_every_family_and_region_has_the_main_scenarios(
    played: tuple[list[Result], dict[tuple[str, int, str], str]],
) -> None:
    results, happy = played
    latest = {sop: max(v for s, v, _ in happy if s == sop) for sop, _, _ in happy}
    seen: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for r in results:
        plan, observed = r.case.plan, r.observed
        assert observed is not None
        key = (plan.sop.id, plan.sop.version, plan.region.code)
        if observed.outcome == happy[key]:
            seen[key].add("happy path")
        elif observed.state.status != "running":
            seen[key].add("rejection")
        if observed.escalations:
            seen[key].add("sla breach with escalation")
    wanted = {"happy path", "rejection", "sla breach with escalation"}
    missing = {
        f"{s}@{v} {r}": sorted(wanted - seen[(s, v, r)])
        for (s, v, r) in happy
        if v == latest[s] and wanted - seen[(s, v, r)]
    }
    assert not missing


def test_the_current_versions_are_covered_completely(
    played: tuple[list[Result], dict[tuple[str, int, str], str]],
) -> None:
    """Every step and branch of each SOP's latest version is reached by some rehearsal, or
    its decision branch says why no rehearsal can take it (`not_rehearsed`)."""
    results, happy = played
    latest = {sop: max(v for s, v, _ in happy if s == sop) for sop, _, _ in happy}
    plans = {k: r.case.plan for r in results for k in [_key(r)] if k[1] == latest[k[0]]}
    runs = [(_key(r), r.observed.state) for r in results if r.observed and _key(r) in plans]
    gaps = {
        entry.key: entry.unreached + [f"{s}: {b}" for s, b in entry.untaken]
        for entry in coverage(plans, runs)
        if entry.unreached or entry.untaken
    }
    assert not gaps
    assert set(plans) == {k for k in happy if k[1] == latest[k[0]]}


def _key(result: Result) -> tuple[str, int, str]:
    plan = result.case.plan
    return plan.sop.id, plan.sop.version, plan.region.code
