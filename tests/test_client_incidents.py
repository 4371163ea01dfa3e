"""The incident service itself (sopflow.client.incidents) on the time-skipping server: what
``view`` reports, the one error every refusal ends in (``ActionRefused`` and its kind), a
request id that makes a retried action apply once, and external events.

``list`` and ``tasks_for`` read visibility, which the time-skipping server does not
implement: tests/test_client_visibility.py runs them on the dev server."""

from __future__ import annotations

import uuid

import pytest

from sopflow.client.incidents import ActionRefused, Refusal
from sopflow.contract.messages import Actor, Cancel, CompleteTask, ExternalEvent, Note
from tests.harness import bench, compile_text, run

pytestmark = pytest.mark.workflow

CLIENT_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: client
version: 1
title: Client procedure
owner: tests
region: US
roles:
  responder: {description: On-shift responder}
  lead: {description: Incident lead}
defaults:
  sla: 30m
steps:
  - id: triage
    type: triage
    rules:
      - when: input.urgent
        severity: SEV1
      - severity: SEV3
  - id: verify
    type: task
    assignee: responder
    escalate: [lead]
    form:
      type: object
      required: [ok]
      properties: {ok: {type: boolean}}
  - id: hold
    type: wait
    event: ack
    timeout: 1d
    on: {timeout: late}
  - id: done
    type: end
    outcome: resolved
  - id: late
    type: end
    outcome: expired
"""

ALICE = Actor(id="alice", roles=["responder"])
BOB = Actor(id="bob", roles=["lead"])


def test_start_then_view_reports_the_summary_and_the_state() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": True}, opened_by="bob")
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            view = await b.incidents.view(h.id)
            summary = view.summary
            assert (summary.id, summary.sop, summary.version, summary.region) == (
                h.id,
                "client",
                1,
                "US",
            )
            assert (summary.severity, summary.status, summary.outcome) == ("SEV1", "running", None)
            assert summary.started_at is not None and not summary.sla_breached
            assert (summary.active_steps, summary.pending_roles) == (("verify",), ("responder",))
            assert view.unavailable is None and view.state is not None
            assert (view.state.incident_id, view.state.opened_by) == (h.id, "bob")
            assert view.state.steps["verify"].status == "active"
            assert (await b.incidents.state(h.id)).steps["verify"].status == "active"
            plan = await b.incidents.plan(h.id)
            assert (plan.sop.id, plan.region.code) == ("client", "US")

            await b.act(h, Cancel(actor=BOB, reason="a drill"))
            await h.result()
            closed = await b.incidents.view(h.id)
            assert (closed.summary.status, closed.summary.outcome) == ("cancelled", "cancelled")
            assert closed.state is not None and closed.state.outcome == "cancelled"

    run(scenario)


def test_acting_on_an_unknown_incident_is_not_found() -> None:
    async def scenario() -> None:
        async with bench() as b:
            with pytest.raises(ActionRefused) as caught:
                await b.incidents.act("inc-nope", Note(actor=ALICE, text="hello"))
            assert caught.value.kind == Refusal.NOT_FOUND
            assert caught.value.reason == "no incident 'inc-nope'" == str(caught.value)
            with pytest.raises(ActionRefused) as looked_up:
                await b.incidents.view("inc-nope")
            assert looked_up.value.kind == Refusal.NOT_FOUND

    run(scenario)


def test_acting_on_a_closed_incident_is_closed() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": False})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            await b.act(h, Cancel(actor=BOB, reason="opened twice"))
            await h.result()
            before = await b.history_length(h)
            for action in (
                Note(actor=ALICE, text="too late"),
                CompleteTask(step="verify", actor=ALICE, data={"ok": True}),
                ExternalEvent(name="ack", data={}),
            ):
                with pytest.raises(ActionRefused) as caught:
                    await b.incidents.act(h.id, action)
                assert caught.value.kind == Refusal.CLOSED
                assert caught.value.reason == f"incident {h.id} is closed"
            assert await b.history_length(h) == before

    run(scenario)


def test_a_validator_refusal_carries_the_workflows_reason() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": False})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            wrong = CompleteTask(step="verify", actor=BOB, data={"ok": True})
            with pytest.raises(ActionRefused) as caught:
                await b.incidents.act(h.id, wrong)
            assert caught.value.kind == Refusal.FORBIDDEN
            assert caught.value.reason == "bob does not hold role 'responder', which 'verify' needs"
            state = await b.state(h)
            assert state.steps["verify"].status == "active"
            assert "task.completed" not in [e.kind for e in state.timeline]

    run(scenario)


def test_the_same_request_id_applies_once() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": False})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            note = Note(actor=ALICE, text="on it", step="verify")
            request = str(uuid.uuid4())
            first = await b.incidents.act(h.id, note, request_id=request)
            again = await b.incidents.act(h.id, note, request_id=request)  # a retry
            assert first.accepted and again == first
            state = await b.state(h)
            assert [(e.actor, e.detail) for e in state.timeline if e.kind == "note"] == [
                ("alice", "on it")
            ]
            await b.incidents.act(h.id, note, request_id=str(uuid.uuid4()))  # a new request
            state = await b.state(h)
            assert len([e for e in state.timeline if e.kind == "note"]) == 2

    run(scenario)


def test_an_external_event_is_delivered() -> None:
    async def scenario() -> None:
        async with bench() as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": False})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            await b.act(h, CompleteTask(step="verify", actor=ALICE, data={"ok": True}))
            await b.until(h, lambda s: s.steps["hold"].status == "active")
            sent = await b.incidents.act(h.id, ExternalEvent(name="ack", data={"ref": "A1"}))
            assert sent.detail == "sent 'ack'"
            final = await h.result()
            assert (final.status, final.outcome) == ("completed", "resolved")
            assert final.steps["hold"].output == {"ref": "A1"}
            assert ("external", "event.received", "ack") in [
                (e.actor, e.kind, e.detail) for e in final.timeline
            ]

    run(scenario)
