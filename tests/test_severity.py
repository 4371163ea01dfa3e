"""Severity moves up, never silently down: a later triage raises it (and a lower finding is
kept out, on the timeline); a lead sets it either way with a reason; anyone else is refused;
the post-mortem follows the current severity."""

from __future__ import annotations

import pytest

from sopflow.client.incidents import Refusal
from sopflow.contract import search
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Note
from tests.harness import bench, compile_text, run
from tests.test_workflow_people import active, refused

pytestmark = pytest.mark.e2e

REVIEW = """\
apiVersion: sopflow/v1
kind: SOP
id: review
version: 1
title: Review
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
defaults:
  sla: 30m
steps:
  - id: intake
    type: triage
    rules:
      - severity: SEV3
  - id: review
    type: task
    assignee: responder
    form:
      type: object
      required: [danger]
      properties: {danger: {type: boolean}}
  - id: retriage
    type: triage
    rules:
      - when: steps.review.output.danger
        severity: SEV1
      - severity: SEV4
  - id: confirm
    type: task
    assignee: responder
  - id: postmortem
    type: postmortem
    when: incident.severity == "SEV1" || incident.severity == "SEV0"
    owner: lead
    due: 3d
  - id: done
    type: end
    outcome: resolved
"""
ALICE = Actor(id="alice", roles=["responder"])
BOB = Actor(id="bob", roles=["lead"])


def severity(actor: Actor, level: str, why: str) -> Note:
    return Note.model_validate({"actor": actor, "text": why, "severity": level})


def test_a_later_triage_raises_and_a_lead_lowers_with_a_reason() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(REVIEW))
            await b.until(h, active("review"))
            await b.act(h, CompleteTask(step="review", actor=ALICE, data={"danger": True}))
            state = await b.until(h, active("confirm"))
            assert state.severity == "SEV1"
            described = await b.client.get_workflow_handle(h.id).describe()
            assert described.typed_search_attributes.get(search.SEVERITY) == "SEV1"
            why = "the child is safe: police confirmed"
            await refused(
                b, h, severity(ALICE, "SEV3", why), "only the 'lead' role", Refusal.FORBIDDEN
            )
            await refused(b, h, severity(BOB, "SEV1", why), "already SEV1", Refusal.REFUSED)
            await b.act(h, severity(BOB, "SEV2", why))
            await b.act(h, severity(BOB, "SEV0", "a second child found"))
            await b.act(h, CompleteTask(step="confirm", actor=ALICE, data={}))
            final: IncidentState = await h.result()
            assert final.severity == "SEV0"
            assert "postmortem" in final.path  # follows the current severity
            moves = [
                (e.kind, e.actor, e.detail) for e in final.timeline if e.kind.startswith("severity")
            ]
            assert moves == [
                ("severity.raised", "system", "SEV3 -> SEV1: triage"),
                ("severity.lowered", "bob", f"SEV1 -> SEV2: {why}"),
                ("severity.raised", "bob", "SEV2 -> SEV0: a second child found"),
            ]

    run(scenario)


def test_a_later_triage_never_lowers_the_severity() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(REVIEW))
            await b.until(h, active("review"))
            await b.act(h, severity(BOB, "SEV2", "a journalist is asking"))
            await b.act(h, CompleteTask(step="review", actor=ALICE, data={"danger": False}))
            state = await b.until(h, active("confirm"))
            assert state.severity == "SEV2"  # the triage said SEV4
            [kept] = [e for e in state.timeline if e.kind == "severity.kept"]
            assert kept.detail == "triage says SEV4; stays SEV2: only a lead lowers the severity"

    run(scenario)
