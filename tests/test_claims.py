"""Who works on a task now: a claim is taken by someone who may act on the step, released
by them or a lead, and assigned only by a lead; stepping away hands back everything a person
holds, across incidents, with their note. Claims are advisory: anyone may still act."""

from __future__ import annotations

import pytest

from sopflow.client.claims import step_away
from sopflow.client.incidents import Refusal
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Note
from tests.harness import bench, compile_text, run
from tests.test_workflow_people import PEOPLE, active, refused

pytestmark = pytest.mark.e2e

ALICE = Actor(id="alice", roles=["responder"])
ERIN = Actor(id="erin", roles=["responder"])
BOB = Actor(id="bob", roles=["lead"])
CARA = Actor(id="cara", roles=["legal"])


def claim(actor: Actor, kind: str, text: str = "on it", assignee: str | None = None) -> Note:
    return Note.model_validate(
        {"actor": actor, "text": text, "step": "verify", "claim": kind, "assignee": assignee}
    )


def test_take_release_assign_and_step_away() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan = compile_text(PEOPLE)
            first, second = await b.start(plan), await b.start(plan)
            for h in (first, second):
                await b.until(h, active("verify"))
                await b.act(h, claim(ALICE, "take"))
            state = await b.state(first)
            assert state.steps["verify"].claimed_by == "alice"
            # Someone without the step's role cannot take it; nor can anyone take it from
            # Alice; only she or a lead releases it; only a lead assigns.
            await refused(
                b, first, claim(CARA, "take"), "holds none of the roles", Refusal.FORBIDDEN
            )
            await refused(b, first, claim(ERIN, "take"), "'verify' is with alice", Refusal.REFUSED)
            await refused(
                b, first, claim(ERIN, "release"), "only they or a lead", Refusal.FORBIDDEN
            )
            await refused(
                b,
                first,
                claim(ERIN, "assign", assignee="erin"),
                "only the 'lead'",
                Refusal.FORBIDDEN,
            )

            # The lead rotates the first to Erin; Alice steps away from what is left.
            await b.act(first, claim(BOB, "assign", "rotating: Alice has had three", "erin"))
            released = await step_away(b.incidents, ALICE, "stepping away for a break")
            assert released == [(second.id, "verify")]
            assert (await b.state(second)).steps["verify"].claimed_by is None
            assert (await b.state(first)).steps["verify"].claimed_by == "erin"

            # Advisory: Alice may still complete what Erin holds (nothing is blocked).
            await b.act(first, CompleteTask(step="verify", actor=ALICE, data={"verified": True}))
            final_state: IncidentState = await b.until(first, active("approve"))
            kinds = [
                (e.kind, e.actor, e.detail)
                for e in final_state.timeline
                if e.kind.startswith("work.")
            ]
            assert kinds == [
                ("work.claimed", "alice", "claimed: on it"),
                ("work.assigned", "bob", "assigned to erin: rotating: Alice has had three"),
            ]
            second_timeline = (await b.state(second)).timeline
            assert ("work.released", "alice", "released: stepping away for a break") in [
                (e.kind, e.actor, e.detail) for e in second_timeline
            ]
            # A claim on a step that is not active is refused.
            await refused(b, first, claim(ALICE, "take"), "not active", Refusal.REFUSED)

    run(scenario)
