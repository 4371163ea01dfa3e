"""The retired versions of the shipped library hand their running incidents over: for each
family, an incident of the retired version waiting at one of the safe points the current
version's `migrates_from` names moves to the current version when a lead asks, keeping the
step it waits at, on the real time-skipping test server."""

from __future__ import annotations

import pytest

from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.messages import Actor, Migrate
from tests.conftest import SHIPPED
from tests.harness import bench, run
from tests.record_histories import Scenario, incident_input, library_activities
from tests.test_workflow_people import active

pytestmark = pytest.mark.e2e

LEAD = Actor(id="dokafor", roles=["lead"], region="US")
# (family, retired version, the version it moves to, the step the incident waits at)
MOVES = [
    ("emergency-disclosure", 2, 3, "verify"),
    ("threat-to-life", 1, 2, "assess"),
    ("csea-report", 1, 2, "specialist_review"),
    ("legal-process", 1, 2, "intake"),
]
# Versions not retired whose incidents may move to a later one all the same: threat-to-life@3
# is version 2 with stakeholder updates, and a moved incident starts keeping them.
UNRETIRED_MOVES = [
    ("threat-to-life", 2, 3, "assess"),
]


@pytest.fixture(scope="module")
def library() -> LintResult:
    return lint_library(SHIPPED)


@pytest.mark.parametrize(("sop", "old", "new", "step"), MOVES)
def test_a_waiting_incident_of_the_retired_version_moves_to_the_current_one(
    library: LintResult, sop: str, old: int, new: int, step: str
) -> None:
    assert f"{sop}@{old}" in library.lock.retired
    _move(library, sop, old, new, step)


@pytest.mark.parametrize(("sop", "old", "new", "step"), UNRETIRED_MOVES)
def test_a_waiting_incident_of_an_earlier_version_moves_to_the_current_one(
    library: LintResult, sop: str, old: int, new: int, step: str
) -> None:
    assert f"{sop}@{old}" not in library.lock.retired
    assert library.lock.default_version(sop, library.library.versions(sop)) == new
    _move(library, sop, old, new, step)


def _move(library: LintResult, sop: str, old: int, new: int, step: str) -> None:
    before, after = library.plans[(sop, old, "US")], library.plans[(sop, new, "US")]
    assert after.migrates_from is not None and step in after.migrates_from.steps

    async def scenario() -> None:
        async with bench(activities=library_activities(library)) as b:
            now = await b.env.get_current_time()
            data = incident_input(before, Scenario(sop, old, "US", "", expect=""), now)
            h = await b.start(before, data)
            await b.until(h, active(step))
            await b.act(h, Migrate(actor=LEAD, plan=after, reason="retired: review findings"))
            state = await b.until(h, lambda s: s.version == new and active(step)(s))
            assert state.plan_hash == after.plan_hash
            [record] = state.migrations
            assert (record.from_version, record.to_version) == (old, new)
            assert state.steps[step].status == "active"

    run(scenario)
