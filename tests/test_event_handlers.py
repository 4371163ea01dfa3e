"""Events handled at any time (`on_event`): the event stops whatever steps are active (each
on the timeline) and the procedure goes on from the handler's step; a `wait` for that very
event takes it itself; lint checks the handler's step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sopflow.contract.messages import Actor, CompleteTask, ExternalEvent, IncidentState
from tests.harness import bench, compile_text, run
from tests.test_per_role_quorum import lint_messages
from tests.test_workflow_people import active

pytestmark = pytest.mark.e2e

PRESERVATION = """\
apiVersion: sopflow/v1
kind: SOP
id: preservation
version: 1
title: Preservation
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
on_event:
  legal-process-served: {goto: review_process}
defaults:
  sla: 1d
steps:
  - id: preserve
    type: task
    assignee: responder
  - id: both
    type: parallel
    branches:
      - steps:
          - id: reminder
            type: wait
            for: 80d
      - steps:
          - id: check_in
            type: task
            assignee: responder
  - id: expired
    type: end
    outcome: expired
  - id: review_process
    type: task
    assignee: responder
  - id: processed
    type: end
    outcome: process-reviewed
"""
ALICE = Actor(id="alice", roles=["responder"])
SERVED = ExternalEvent(name="legal-process-served", data={"agency": "FBI"})


def test_an_event_stops_the_active_steps_and_goes_on_from_its_handler() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(PRESERVATION))
            await b.until(h, active("preserve"))
            await b.act(h, CompleteTask(step="preserve", actor=ALICE, data={}))
            await b.until(h, active("check_in"))
            await b.env.sleep(timedelta(days=10))
            await b.act(h, SERVED)
            await b.until(h, active("review_process"))
            await b.act(h, CompleteTask(step="review_process", actor=ALICE, data={}))
            final: IncidentState = await h.result()
            assert final.outcome == "process-reviewed"
            stopped = sorted(e.step or "" for e in final.timeline if e.kind == "step.interrupted")
            assert stopped == ["both", "check_in", "reminder"]
            assert final.path == ["preserve", "review_process", "processed"]
            assert {final.steps[s].status for s in ("both", "check_in", "reminder")} == {"skipped"}

    run(scenario)


def test_a_wait_for_the_same_event_takes_it_itself() -> None:
    sop = PRESERVATION.replace(
        "            type: wait\n            for: 80d\n",
        "            type: wait\n            event: legal-process-served\n",
    ).replace("    outcome: expired", "    outcome: served-while-waiting")

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(sop))
            await b.until(h, active("preserve"))
            await b.act(h, CompleteTask(step="preserve", actor=ALICE, data={}))
            await b.until(h, active("reminder"))
            await b.act(h, SERVED)
            state = await b.until(h, lambda s: s.steps["reminder"].status == "done")
            assert state.steps["reminder"].output == {"agency": "FBI"}
            assert "step.interrupted" not in [e.kind for e in state.timeline]

    run(scenario)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("goto", "message"),
    [
        ("review_proces", "`on_event.legal-process-served.goto` names no step `review_proces`"),
        ("check_in", "`check_in` is inside a parallel step"),
    ],
)
def test_lint_checks_the_handlers_step(goto: str, message: str, tmp_path: Any) -> None:
    sop = PRESERVATION.replace("{goto: review_process}", "{goto: " + goto + "}")
    roster = {"alice": ["responder"], "bob": ["lead"]}
    found = lint_messages(sop, roster, tmp_path)
    assert any(m.startswith("E301") and message in m for m in found), found


@pytest.mark.unit
def test_a_step_reached_only_by_a_handler_is_not_unreachable(tmp_path: Any) -> None:
    roster = {"alice": ["responder"], "bob": ["lead"]}
    assert lint_messages(PRESERVATION, roster, tmp_path) == []
