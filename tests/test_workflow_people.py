"""Human steps on the time-skipping server: tasks, votes, SLA escalation, refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from sopflow.client.incidents import Action, ActionRefused, Refusal
from sopflow.contract import search
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    IncidentState,
    Note,
    Vote,
)
from tests.feature_histories import keep
from tests.harness import Bench, bench, compile_text, run

# The time-skipping server, and the real dev server for the refusals (only there does a
# refused update leave no trace): end to end.
pytestmark = pytest.mark.e2e

PEOPLE = """\
apiVersion: sopflow/v1
kind: SOP
id: people
version: 1
title: People
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
  legal: {description: Counsel}
defaults:
  sla: 30m
steps:
  - id: verify
    type: task
    assignee: responder
    escalate: [lead, legal]
    on_timeout: fail
    form:
      type: object
      required: [verified]
      additionalProperties: false
      properties: {verified: {type: boolean}}
  - id: approve
    type: approval
    approvers: [lead, legal]
    quorum: 2
    on: {rejected: refused}
  - id: done
    type: end
    outcome: resolved
  - id: refused
    type: end
    outcome: rejected
"""

ALICE = Actor(id="alice", roles=["responder"])
BOB = Actor(id="bob", roles=["lead"])
CARA = Actor(id="cara", roles=["legal"])


async def complete(
    b: Bench, h: WorkflowHandle[Any, Any], actor: Actor, data: dict[str, Any]
) -> ActionResult:
    return await b.act(h, CompleteTask(step="verify", actor=actor, data=data))


async def vote(b: Bench, h: WorkflowHandle[Any, Any], actor: Actor, decision: str) -> ActionResult:
    return await b.act(h, Vote(step="approve", actor=actor, decision=decision, reason="checked"))


async def refused(
    b: Bench,
    h: WorkflowHandle[Any, Any],
    action: Action,
    reason: str,
    kind: Refusal = Refusal.REFUSED,
) -> None:
    """The action is refused with ``reason`` for cause ``kind``, and the history does not
    grow."""
    before = await b.history_length(h)
    with pytest.raises(ActionRefused) as caught:
        await b.act(h, action)
    assert caught.value.kind == kind
    assert reason in caught.value.reason
    assert await b.history_length(h) == before


def active(step: str) -> Any:
    return lambda s: s.steps[step].status == "active"


def test_task_then_quorum_of_two_approves() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(PEOPLE))
            await b.until(h, active("verify"))
            await complete(b, h, ALICE, {"verified": True})
            await b.until(h, active("approve"))
            await vote(b, h, BOB, "approve")
            await vote(b, h, CARA, "approve")
            final: IncidentState = await h.result()
            assert (final.status, final.outcome) == ("completed", "resolved")
            assert final.steps["verify"].output == {"verified": True}
            assert final.steps["approve"].output["outcome"] == "approved"
            assert [v.actor for v in final.steps["approve"].votes] == ["bob", "cara"]
            kinds = [e.kind for e in final.timeline]
            assert kinds.count("vote.approve") == 2 and "task.completed" in kinds

    run(scenario)


def test_a_rejection_routes_to_its_step() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(PEOPLE))
            await b.until(h, active("verify"))
            await complete(b, h, ALICE, {"verified": True})
            await b.until(h, active("approve"))
            await vote(b, h, BOB, "reject")
            final: IncidentState = await h.result()
            assert final.outcome == "rejected" and final.steps["refused"].status == "done"

    run(scenario)


def test_refused_actions_leave_the_history_untouched() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(PEOPLE), opened_by="bob")
            await b.until(h, active("verify"))
            task = CompleteTask(step="verify", actor=BOB, data={"verified": True})
            await refused(b, h, task, "does not hold role 'responder'", Refusal.FORBIDDEN)
            bad_form = CompleteTask(step="verify", actor=ALICE, data={"verified": "yes"})
            await refused(b, h, bad_form, "verified: must be boolean", Refusal.INVALID)
            extra = CompleteTask(step="verify", actor=ALICE, data={"verified": True, "x": 1})
            await refused(b, h, extra, "x: is not a field of this form", Refusal.INVALID)
            early = Vote(step="approve", actor=CARA, decision="approve", reason="r")
            await refused(b, h, early, "'approve' is pending, not active")
            await refused(
                b, h, Cancel(actor=ALICE, reason="r"), "only the 'lead'", Refusal.FORBIDDEN
            )
            outsider = Note(actor=Actor(id="eve", roles=["press"]), text="hi")
            await refused(b, h, outsider, "holds none of this SOP's roles", Refusal.FORBIDDEN)
            await complete(b, h, ALICE, {"verified": True})
            await b.until(h, active("approve"))
            # bob opened the incident: four eyes refuses his vote.
            await refused(
                b,
                h,
                Vote(step="approve", actor=BOB, decision="approve", reason="r"),
                "four eyes",
            )
            await vote(b, h, CARA, "approve")
            again = Vote(step="approve", actor=CARA, decision="approve", reason="r")
            await refused(b, h, again, "already voted")
            await refused(b, h, task, "'verify' is done, not active")

    run(scenario)


def test_sla_breach_escalates_along_the_chain_then_fails() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(PEOPLE))
            await b.until(h, active("verify"))
            await b.env.sleep(timedelta(minutes=31))
            state = await b.until(h, lambda s: s.steps["verify"].breaches == 1)
            assert state.sla_breached and state.steps["verify"].escalated_to == ["lead"]
            await b.env.sleep(timedelta(minutes=30))
            await b.until(h, lambda s: s.steps["verify"].breaches == 2)
            final: IncidentState = await h.result()  # the third breach spends the chain
            assert (final.status, final.outcome) == ("failed", "sla_spent:verify")
            assert [n.to for n in b.fakes.notifications] == ["lead", "legal"]
            assert len({n.idempotency_key for n in b.fakes.notifications}) == 2

    run(scenario)


def test_lead_cancels_with_a_reason() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(PEOPLE))
            await b.until(h, active("verify"))
            await b.act(h, Cancel(actor=BOB, reason="duplicate of another case"))
            final: IncidentState = await h.result()
            assert (final.status, final.outcome) == ("cancelled", "cancelled")
            assert any(e.kind == "incident.cancelled" and e.actor == "bob" for e in final.timeline)
            # Nothing stays active, so no queue lists a closed incident.
            assert final.steps["verify"].status == "skipped"
            assert final.timeline[-1].kind == "incident.closed"

    run(scenario)


def test_a_spent_chain_pages_its_last_role_again_until_someone_acts() -> None:
    """`on_timeout: escalate` (the default) never waits silently once the chain is spent:
    the step is stalled and the last role is paged again every SLA, each page its own
    notification; acting ends it."""
    sop = PEOPLE.replace("    on_timeout: fail\n", "")

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(sop))
            await b.until(h, active("verify"))
            # Breaches at 30m (lead), 60m (legal), 90m (spent), then a page at 120m and 150m.
            await b.env.sleep(timedelta(minutes=30 * 5 + 1))
            state = await b.until(h, lambda s: s.steps["verify"].breaches == 5)
            assert state.steps["verify"].stalled
            repaged = [e.detail for e in state.timeline if e.kind == "sla.repaged"]
            assert repaged == ["still unanswered: paged legal again"] * 2
            assert [n.to for n in b.fakes.notifications] == ["lead", "legal", "legal", "legal"]
            assert len({n.idempotency_key for n in b.fakes.notifications}) == 4
            # Lists and inboxes see it (visibility), not only the incident's own state.
            attrs = (await h.describe()).typed_search_attributes
            assert attrs.get(search.STALLED) == "verify"
            await complete(b, h, ALICE, {"verified": True})
            done = await b.until(h, active("approve"))
            assert not done.steps["verify"].stalled
            assert (await h.describe()).typed_search_attributes.get(search.STALLED) == ""
            await keep(b, h, "people-repaged-after-a-spent-chain")

    run(scenario)
