"""Stakeholder updates on the time-skipping server: asked on the clock, posted once per
update, a missed one escalated once, the cadence following the severity, stopping at close,
and refusals that leave the history unchanged (on the real dev server)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from sopflow.audit.report_render import render_markdown
from sopflow.client.incidents import ActionRefused, Refusal
from sopflow.contract.messages import (
    Actor,
    CompleteTask,
    IncidentState,
    Note,
    NotifyRequest,
    PostUpdate,
)
from sopflow.contract.names import ESCALATION_CHANNEL
from sopflow.contract.updates import UPDATE_DUE, UPDATE_MISSED, UPDATE_POSTED
from tests.harness import Bench, bench, compile_text, run
from tests.test_audit_report import report_from_server

pytestmark = pytest.mark.e2e

UPDATES = """\
apiVersion: sopflow/v1
kind: SOP
id: updates-demo
version: 1
title: Updates
owner: tests
region: US
input:
  type: object
  properties: {severity: {enum: [SEV0, SEV1]}}
roles:
  responder: {description: Responder}
  lead: {description: Incident lead}
  commander: {description: Commander}
  stakeholders: {description: Stakeholders}
updates:
  SEV0:
    every: 30m
    to: stakeholders
    channel: email
    escalate_after: 10m
    escalate: [commander]
    template: "#{{ update.number }} ({{ update.severity }}) {{ update.by }}: {{ update.text }}"
  SEV1: {every: 2h, to: stakeholders, channel: email, escalate_after: 20m}
defaults:
  sla: 24h
steps:
  - id: triage
    type: triage
    rules:
      - when: input.severity == "SEV0"
        severity: SEV0
      - severity: SEV1
  - id: work
    type: task
    assignee: responder
  - id: done
    type: end
    outcome: resolved
"""

ALICE = Actor(id="alice", roles=["responder"])
LEAD = Actor(id="bob", roles=["lead"])
PLAN = compile_text(UPDATES)


def sent(b: Bench, purpose: str) -> list[NotifyRequest]:
    """The notifications about stakeholder updates for one purpose (due, posted, missed)."""
    return [n for n in b.fakes.notifications if n.idempotency_key.endswith(f"/{purpose}")]


def records(state: IncidentState) -> list[tuple[int, str, str]]:
    assert state.updates is not None
    return [(r.number, r.severity, r.status) for r in state.updates.records]


async def started(b: Bench, severity: str) -> WorkflowHandle[Any, Any]:
    h = await b.start(PLAN, {"severity": severity})
    await b.until(h, lambda s: s.steps["work"].status == "active")
    return h


async def post(b: Bench, h: WorkflowHandle[Any, Any], text: str, actor: Actor = LEAD) -> str:
    result = await b.act(h, PostUpdate(actor=actor, text=text))
    return result.detail


def test_updates_are_asked_on_the_clock_posted_once_and_a_missed_one_escalated() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await started(b, "SEV0")
            await b.env.sleep(timedelta(minutes=31))
            await b.until(h, lambda s: records(s) == [(1, "SEV0", "due")])
            [ask] = sent(b, "due")
            assert (ask.channel, ask.to, ask.to_is_role) == (ESCALATION_CHANNEL, "lead", True)
            assert await post(b, h, "Referral made; agency acknowledged.") == "update 1 posted"
            [out] = sent(b, "posted")
            assert (out.channel, out.to, out.to_is_role) == ("email", "stakeholders", True)
            assert out.message == "#1 (SEV0) bob: Referral made; agency acknowledged."
            # The second is asked 30m after the first, and missed 10m later: paged once.
            await b.env.sleep(timedelta(minutes=30 + 11))
            await b.until(h, lambda s: [r[2] for r in records(s)] == ["posted", "missed"])
            [page] = sent(b, "missed")
            assert (page.channel, page.to) == (ESCALATION_CHANNEL, "commander")
            # The third still comes on the clock, 30m after the second was asked.
            await b.env.sleep(timedelta(minutes=20))
            await b.until(h, lambda s: len(records(s)) == 3)
            assert await post(b, h, "Person safe.") == "update 3 posted"
            await b.act(h, CompleteTask(step="work", actor=ALICE))
            final: IncidentState = await h.result()
            assert [r[2] for r in records(final)] == ["posted", "missed", "posted"]
            assert (len(sent(b, "due")), len(sent(b, "posted")), len(sent(b, "missed"))) == (
                3,
                2,
                1,
            )
            kinds = [e.kind for e in final.timeline]
            assert kinds.count(UPDATE_DUE) == 3 and kinds.count(UPDATE_MISSED) == 1
            assert kinds.count(UPDATE_POSTED) == 2 and kinds[-1] == "incident.closed"
            keys = [n.idempotency_key for n in b.fakes.notifications]
            assert len(keys) == len(set(keys))
            report = await report_from_server(b, h.id)
            assert [(u.number, u.status) for u in report.stakeholder_updates] == [
                (1, "posted"),
                (2, "missed"),
                (3, "posted"),
            ]
            assert report.stakeholder_updates[1].escalated_to == "commander"
            text = render_markdown(report)
            assert "## Stakeholder updates" in text and "3 asked, 2 posted, 1 missed." in text
            assert [a.action for a in report.actions].count("post_update") == 2

    run(scenario)


def test_the_cadence_follows_the_severity_and_stops_at_close() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await started(b, "SEV1")
            await b.env.sleep(timedelta(minutes=10))
            raised = Note(actor=LEAD, text="mass casualty risk", severity="SEV0")
            await b.act(h, raised)
            # At SEV1 the first update would be due at 2h; at SEV0 it is due at 30m.
            await b.env.sleep(timedelta(minutes=21))
            await b.until(h, lambda s: records(s) == [(1, "SEV0", "due")])
            await post(b, h, "Raised to SEV0.")
            await b.act(h, Note(actor=LEAD, text="contained", severity="SEV1"))
            # Back at SEV1: the next is due 2h after the last ask, not 30m.
            await b.env.sleep(timedelta(minutes=60))
            assert len(records(await b.state(h))) == 1
            await b.env.sleep(timedelta(minutes=61))
            await b.until(h, lambda s: records(s)[-1] == (2, "SEV1", "due"))
            await b.act(h, CompleteTask(step="work", actor=ALICE))
            final: IncidentState = await h.result()
            closed = [e.kind for e in final.timeline].index("incident.closed")
            assert UPDATE_DUE not in [e.kind for e in final.timeline[closed:]]
            assert len(sent(b, "due")) == 2 and sent(b, "missed") == []

    run(scenario)


def test_a_plan_without_updates_asks_for_none_and_refuses_a_post() -> None:
    plain = compile_text(
        UPDATES.split("updates:\n")[0] + "defaults:" + UPDATES.split("defaults:")[1]
    )
    assert plain.updates is None

    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(plain, {"severity": "SEV0"})
            await b.until(h, lambda s: s.steps["work"].status == "active")
            await b.env.sleep(timedelta(hours=3))
            state = await b.state(h)
            assert state.updates is None and b.fakes.notifications == []
            with pytest.raises(ActionRefused, match="declares no stakeholder updates"):
                await post(b, h, "hello")

    run(scenario)


def test_bad_text_is_refused_with_a_reason() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await started(b, "SEV0")
            await b.env.sleep(timedelta(minutes=31))
            await b.until(h, lambda s: len(records(s)) == 1)
            for text, reason in (("  ", "empty"), ("x" * 4001, "at most 4000")):
                with pytest.raises(ActionRefused) as caught:
                    await post(b, h, text)
                assert caught.value.kind == Refusal.INVALID and reason in caught.value.reason
            assert records(await b.state(h)) == [(1, "SEV0", "due")]

    run(scenario)


def test_refusals_leave_the_history_unchanged() -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await started(b, "SEV0")
            for actor, reason, kind in (
                (ALICE, "does not hold role 'lead'", Refusal.FORBIDDEN),
                (LEAD, "no stakeholder update is due", Refusal.REFUSED),
            ):
                before = await b.history_length(h)
                with pytest.raises(ActionRefused) as caught:
                    await post(b, h, "an update", actor)
                assert caught.value.kind == kind and reason in caught.value.reason
                assert await b.history_length(h) == before

    run(scenario)
