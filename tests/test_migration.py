"""Moving running incidents to a corrected version (`migrates_from`, the `migrate` update):
an incident at a safe point moves and finishes on the later version with its record kept;
one that is not stays where it is, with the reason; only a lead moves one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopflow.client.incidents import ActionRefused
from sopflow.compile.lint import lint_library
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Migrate, Vote
from sopflow.contract.migration import migration_refusal
from sopflow.contract.plan import Plan
from tests.feature_histories import keep
from tests.harness import bench, run
from tests.test_workflow_people import active

pytestmark = pytest.mark.e2e

LIBRARY = Path(__file__).parent.parent / "examples" / "incident-lifecycle"
ALICE = Actor(id="amoreno", roles=["responder"], region="US")
LEAD = Actor(id="dokafor", roles=["lead"], region="US")


def plans() -> tuple[Plan, Plan]:
    result = lint_library(LIBRARY)
    return result.plans[("welfare-review", 1, "US")], result.plans[("welfare-review", 2, "US")]


def test_an_incident_at_a_safe_point_moves_and_finishes_on_the_later_version() -> None:
    v1, v2 = plans()

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(v1, {"report_id": "W-1"})
            await b.until(h, active("review"))
            moved = await b.act(h, Migrate(actor=LEAD, plan=v2, reason="v1 never opens danger"))
            assert moved.detail == "moving to welfare-review@2"
            state = await b.until(h, lambda s: s.version == 2 and active("review")(s))
            assert state.plan_hash == v2.plan_hash
            [record] = state.migrations
            assert (record.from_version, record.to_version, record.by) == (1, 2, "dokafor")
            assert record.from_plan == v1.plan_hash
            assert state.steps["intake"].output is not None  # the triage's output is kept
            data = {"someone_in_danger": False}
            await b.act(h, CompleteTask(step="review", actor=ALICE, data=data))
            await b.until(h, active("act"))
            await b.act(h, CompleteTask(step="act", actor=ALICE, data={}))
            final: IncidentState = await h.result()
            assert (final.version, final.outcome) == (2, "resolved")
            assert final.path == ["intake", "review", "retriage", "act", "closed"]
            kinds = [e.kind for e in final.timeline]
            assert kinds.count("incident.migrated") == 1
            assert final.steps["open_danger_to_life"].status == "skipped"
            await keep(b, h, "welfare-review-migrated")

    run(scenario)


def test_an_incident_whose_active_step_does_not_map_stays_with_the_reason() -> None:
    v1, v2 = plans()

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(v1, {"report_id": "W-2"})
            await b.until(h, active("review"))
            await b.act(
                h, CompleteTask(step="review", actor=ALICE, data={"someone_in_danger": True})
            )
            before = await b.until(h, active("act"))
            assert migration_refusal(before, v1, v2) == (
                "step act is active and welfare-review@2 does not map it (its `migrates_from`)"
            )
            with pytest.raises(ActionRefused) as refused:
                await b.act(h, Migrate(actor=LEAD, plan=v2, reason="try"))
            assert "does not map it" in refused.value.reason
            after = await b.state(h)
            assert (after.version, after.timeline) == (1, before.timeline)

    run(scenario)


def test_only_a_lead_moves_an_incident() -> None:
    v1, v2 = plans()

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(v1, {"report_id": "W-3"})
            await b.until(h, active("review"))
            with pytest.raises(ActionRefused) as refused:
                await b.act(h, Migrate(actor=ALICE, plan=v2, reason="me"))
            assert (
                refused.value.reason == "only the 'lead' role moves an incident to another version"
            )
            assert refused.value.kind.value == "forbidden"

    run(scenario)


def test_a_plan_that_does_not_migrate_from_the_running_version_is_refused() -> None:
    v1, _ = plans()

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(v1, {"report_id": "W-4"})
            state = await b.until(h, active("review"))
            assert migration_refusal(state, v1, v1) == (
                "welfare-review@1 does not migrate from version 1 (its `migrates_from`)"
            )
            with pytest.raises(ActionRefused):
                await b.act(h, Migrate(actor=LEAD, plan=v1, reason="same"))

    run(scenario)


APPROVAL = """\
apiVersion: sopflow/v1
kind: SOP
id: sign-off
version: {version}
title: Sign-off
owner: tests
region: US
roles:
  lead: {{description: Lead}}
{migrates}
steps:
  - id: {approval}
    type: approval
    approvers: [lead]
    quorum: 2
    sla: 1h
    on: {{rejected: refused}}
  - id: done
    type: end
    outcome: {outcome}
  - id: refused
    type: end
    outcome: refused
"""


def approval_plans(tmp_path: Path) -> tuple[Plan, Plan]:
    (tmp_path / "v1.yaml").write_text(
        APPROVAL.format(version=1, migrates="", approval="sign_off", outcome="signed")
    )
    mapping = "migrates_from: {version: 1, steps: {sign_off: decide}}"
    (tmp_path / "v2.yaml").write_text(
        APPROVAL.format(version=2, migrates=mapping, approval="decide", outcome="decided")
    )
    result = lint_library(tmp_path)
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    return result.plans[("sign-off", 1, "US")], result.plans[("sign-off", 2, "US")]


def test_the_votes_and_the_due_time_of_the_active_step_are_kept(tmp_path: Path) -> None:
    v1, v2 = approval_plans(tmp_path)
    other_lead = Actor(id="tbrown", roles=["lead"], region="US")

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(v1)
            await b.until(h, active("sign_off"))
            await b.act(h, Vote(step="sign_off", actor=LEAD, decision="approve", reason="ok"))
            before = await b.until(h, lambda s: len(s.steps["sign_off"].votes) == 1)
            await b.act(h, Migrate(actor=LEAD, plan=v2, reason="renamed"))
            moved = await b.until(h, lambda s: s.version == 2 and active("decide")(s))
            kept = moved.steps["decide"]
            assert [v.actor for v in kept.votes] == ["dokafor"]
            assert kept.due_at == before.steps["sign_off"].due_at
            assert kept.starts == 1 and kept.started_at == before.steps["sign_off"].started_at
            await b.act(h, Vote(step="decide", actor=other_lead, decision="approve", reason="ok"))
            final: IncidentState = await h.result()
            assert final.outcome == "decided"
            assert final.steps["decide"].output is not None
            assert final.steps["decide"].output["outcome"] == "approved"
            await keep(b, h, "sign-off-migrated-mid-vote")

    run(scenario)


def test_the_checked_in_migration_histories_run_two_plans() -> None:
    """tests/test_replay.py replays these; here: they are a migration (run 2 on a later
    plan than run 1), so a replay covers the move."""
    from temporalio.client import WorkflowHistory
    from temporalio.contrib.pydantic import pydantic_data_converter

    from sopflow.contract.messages import IncidentInput
    from tests.feature_histories import FEATURES

    for name in ("welfare-review-migrated", "sign-off-migrated-mid-vote"):
        versions = []
        for number in (1, 2):
            path = FEATURES / f"{name}-run{number}.json"
            history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
            started = history.events[0].workflow_execution_started_event_attributes
            [inp] = pydantic_data_converter.payload_converter.from_payloads(
                list(started.input.payloads), [IncidentInput]
            )
            versions.append(inp.plan.sop.version)
        assert versions == [1, 2], name
