"""``sopflow audit report``: built from the history events of real runs on the time-skipping
server (tests/harness.py), and of the checked-in histories, and checked against what the
test did: who acted and why, the votes, the disclosure decision and its legal basis, the
SLA breach and its escalation, the outcome, across continue-as-new runs; an update that was
accepted but whose handler failed; the same report from an export as from the server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from typer.testing import CliRunner

from sopflow.audit.envelope import dump_envelope
from sopflow.audit.export import export_incident
from sopflow.audit.history_io import fetch_runs, load_file
from sopflow.audit.payloads import Decoder
from sopflow.audit.report import build_report
from sopflow.audit.report_model import AuditReport, Source
from sopflow.audit.report_render import render_markdown
from sopflow.cli.app import app
from sopflow.client.incidents import ActionRefused, IncidentService, Refusal
from sopflow.client.testing import TEST_SIGNER, incident_worker
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    IncidentState,
    Note,
    Vote,
)
from sopflow.contract.names import ESCALATION_CHANNEL, UPDATE_NOTE
from tests.conftest import UNSIGNED_HISTORIES
from tests.harness import Bench, Fakes, bench, compile_text, run
from workflows.incident import IncidentWorkflow

pytestmark = pytest.mark.workflow

HISTORIES = UNSIGNED_HISTORIES
runner = CliRunner()

AUDITED = """\
apiVersion: sopflow/v1
kind: SOP
id: audited
version: 1
title: Audited procedure
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
  legal: {description: Counsel}
defaults:
  sla: 30m
steps:
  - id: triage
    type: triage
    rules:
      - when: input.urgent
        severity: SEV1
      - severity: SEV3
  - id: assess
    type: task
    assignee: responder
    escalate: [lead, legal]
    form:
      type: object
      required: [credible, rationale]
      properties: {credible: {type: boolean}, rationale: {type: string}}
  - id: check
    type: disclosure_check
    policy: us-test
    request: {emergency: steps.assess.output.credible}
    on: {denied: refuse}
  - id: approve
    type: approval
    approvers: [lead, legal]
    quorum: 2
    on: {rejected: refuse}
  - id: done
    type: end
    outcome: disclosed
  - id: refuse
    type: end
    outcome: refused
"""
POLICY = """\
apiVersion: sopflow/v1
kind: DisclosurePolicy
id: us-test
jurisdiction: US
title: US test policy
rules:
  - when: request.emergency
    decision: allowed
    legal_basis: 18 U.S.C. 2702(b)(8)
    allow: [basic_subscriber_info]
  - decision: denied
    reason: No emergency basis
"""
ALICE = Actor(id="alice", roles=["responder"])
BOB = Actor(id="bob", roles=["lead"])
CARA = Actor(id="cara", roles=["legal"])
FORM = {"credible": True, "rationale": "a named target and a date"}


async def report_from_server(b: Bench, incident_id: str) -> AuditReport:
    runs = await fetch_runs(b.incidents, incident_id)
    return await build_report(runs, Decoder(), Source(kind="server", location=incident_id))


async def audited_incident(b: Bench) -> str:
    """Run AUDITED: the assessment's SLA lapses once (escalated to lead), alice notes and
    completes it, the disclosure is allowed, bob and cara approve. Continues as new past 20
    events, so the incident spans several runs."""
    h = await b.start(
        compile_text(AUDITED, POLICY),
        {"urgent": True},
        opened_by="intake",
        continue_as_new_after=20,
    )
    latest = b.incidents.handle(h.id)  # follows the incident across continue-as-new
    await b.until(latest, lambda s: s.steps["assess"].status == "active")
    await b.env.sleep(timedelta(minutes=31))
    await b.until(latest, lambda s: s.steps["assess"].breaches == 1)
    await b.act(latest, Note(actor=ALICE, text="calling the reporter", step="assess"))
    await b.act(latest, CompleteTask(step="assess", actor=ALICE, data=FORM))
    await b.until(latest, lambda s: s.steps["approve"].status == "active")
    await b.act(
        latest, Vote(step="approve", actor=BOB, decision="approve", reason="the threat is real")
    )
    await b.act(
        latest, Vote(step="approve", actor=CARA, decision="approve", reason="basis checked")
    )
    final: IncidentState = await latest.result()
    assert (final.status, final.outcome, final.runs > 1) == ("completed", "disclosed", True)
    return h.id


def test_report_of_a_real_incident_says_who_did_what_why_and_on_what_basis(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bench() as b:
            incident_id = await audited_incident(b)
            report = await report_from_server(b, incident_id)
            envelope, runs = await export_incident(b.incidents, incident_id, Decoder())
            exported = tmp_path / "export.json"
            exported.write_text(dump_envelope(envelope), encoding="utf-8")
            fakes = b.fakes
        assert len(runs) == len(report.runs) > 1
        assert (report.sop.id, report.sop.version, report.region) == ("audited", 1, "US")
        assert report.plan_hash == envelope["plan_hash"] and report.plan_hash_ok
        assert (report.opened_by, report.severity) == ("intake", "SEV1")
        assert (report.outcome.status, report.outcome.outcome) == ("completed", "disclosed")
        assert report.outcome.ref is not None and report.outcome.ref.run == len(runs)

        acted = [(a.action, a.actor, a.step, a.reason, a.data, a.result) for a in report.actions]
        assert acted == [
            ("add_note", "alice", "assess", "calling the reporter", None, "applied"),
            ("complete_task", "alice", "assess", None, FORM, "applied"),
            ("vote", "bob", "approve", "the threat is real", None, "applied"),
            ("vote", "cara", "approve", "basis checked", None, "applied"),
        ]
        assert report.actions[0].roles == ["responder"]
        voted = [(v.voter, v.decision, v.reason) for v in report.votes]
        assert voted == [
            ("bob", "approve", "the threat is real"),
            ("cara", "approve", "basis checked"),
        ]

        [disclosure] = report.disclosures
        assert (disclosure.policy, disclosure.jurisdiction, disclosure.decision) == (
            "us-test",
            "US",
            "allowed",
        )
        assert disclosure.legal_basis == "18 U.S.C. 2702(b)(8)"
        assert disclosure.allowed == ["basic_subscriber_info"]
        assert (disclosure.rule, disclosure.rule_when) == (0, "request.emergency")
        assert disclosure.facts == {"emergency": True} == fakes.disclosures[0].facts

        [escalation] = report.escalations
        sent = [n for n in fakes.notifications if n.channel == ESCALATION_CHANNEL]
        assert (
            [(n.step, n.to) for n in sent]
            == [(escalation.step, escalation.to)]
            == [("assess", "lead")]
        )
        assert escalation.status == "completed" and escalation.delivered
        [breach] = report.sla_breaches
        assert (breach.step, breach.escalated_to, breach.source) == (
            "assess",
            "lead",
            "recorded timeline",
        )
        assert breach.escalation == escalation.scheduled
        assert report.state_source is not None and "completion result" in report.state_source
        assert report.notes == []

        kinds = [i.kind for i in report.timeline]
        assert kinds[0] == "incident.opened" and kinds[-1] == "incident.closed"
        for kind in ("timer.fired", "notified", "note", "task.completed", "vote.approve"):
            assert kind in kinds
        assert kinds.count("run.continued") == len(runs) - 1
        assert [(i.ref.run, i.ref.event_id) for i in report.timeline] == sorted(
            (i.ref.run, i.ref.event_id) for i in report.timeline
        )
        assert any(e.kind == "sla.breached" for e in report.recorded_timeline)

        # Offline, from the export: the same report but for where it came from.
        loaded = load_file(exported)
        source = Source(kind="export", location=str(exported))
        offline = await build_report(loaded.runs, Decoder(), source, workflow_id=incident_id)
        skip = {"generated_at", "source"}
        assert offline.model_dump(exclude=skip) == report.model_dump(exclude=skip)

        md = render_markdown(report)
        for heading in ("## Actions", "## Votes", "## Disclosure decisions", "## SLA breaches"):
            assert heading in md
        # Actions: action, actor (roles), step, reason, result; votes: step, voter, decision...
        assert "| vote | bob (lead) | approve | the threat is real | applied |" in md
        assert "| approve | cara (legal) | approve | basis checked | applied |" in md
        assert "18 U.S.C. 2702(b)(8)" in md and '["basic_subscriber_info"]' in md

    run(scenario)


@workflow.defn(dynamic=True, sandboxed=False)
class NoteHandlerFails(IncidentWorkflow):
    """A note handler that fails after its validator accepted the note (the history then
    holds UpdateAccepted and an UpdateCompleted with a failure)."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> IncidentState:
        return await super().run(args)

    @workflow.update(name=UPDATE_NOTE)
    def add_note(self, req: Note) -> ActionResult:  # type: ignore[override]
        raise ApplicationError("the note store is unavailable", non_retryable=True)


def test_an_accepted_update_whose_handler_failed_is_shown_as_such() -> None:
    async def scenario() -> None:
        async with bench() as b:
            plan = compile_text(AUDITED, POLICY)
            incident_id = f"inc-{uuid.uuid4().hex[:8]}"
            workers = incident_worker(b.env, Fakes().activities(), workflow=NoteHandlerFails)
            async with workers as queue:
                incidents = IncidentService(b.client, task_queue=queue, signer=TEST_SIGNER)
                h = await incidents.start(
                    plan, {"urgent": False}, opened_by="intake", incident_id=incident_id
                )
                await b.until(h, lambda s: s.steps["assess"].status == "active")
                with pytest.raises(ActionRefused) as caught:
                    await incidents.act(h.id, Note(actor=ALICE, text="on it", step="assess"))
                assert caught.value.kind == Refusal.REFUSED
                assert caught.value.reason == "the note store is unavailable"
                await incidents.act(h.id, Cancel(actor=BOB, reason="opened twice"))
                await h.result()
            report = await report_from_server(b, incident_id)
        note, cancel = report.actions
        assert (note.action, note.actor, note.reason, note.result) == (
            "add_note",
            "alice",
            "on it",
            "handler_failed",
        )
        assert note.failure == "the note store is unavailable" and note.completed_ref is not None
        assert (cancel.action, cancel.actor, cancel.reason, cancel.result) == (
            "cancel_incident",
            "bob",
            "opened twice",
            "applied",
        )
        assert (report.outcome.status, report.outcome.outcome) == ("cancelled", "cancelled")
        md = render_markdown(report)
        assert "handler_failed: the note store is unavailable" in md
        items = [i for i in report.timeline if i.kind == "note"]
        assert items and "its handler failed" in items[0].detail

    run(scenario)


def test_report_covers_every_run_of_the_checked_in_continue_as_new_incident() -> None:
    files = sorted(HISTORIES.glob("legal-process-v1-US-continue-as-new-run*.json"))
    result = runner.invoke(app, ["audit", "report", "--format", "json", *map(str, reversed(files))])
    assert result.exit_code == 0, result.stderr
    report = AuditReport.model_validate_json(result.stdout)
    assert [r.closed_by for r in report.runs] == [
        "continued_as_new",
        "continued_as_new",
        "completed",
    ]
    assert report.source.kind == "history" and report.source.digest_ok is None
    steps = [(a.ref.run, a.step) for a in report.actions]
    assert steps == [(1, "intake"), (1, "preserve"), (2, "extend"), (3, "release")]
    [signal] = report.signals
    assert (signal.ref.run, signal.name) == (2, "preservation-extension-requested")
    assert signal.data == {"requested_by": "agency"}
    assert (report.outcome.status, report.outcome.outcome) == ("completed", "resolved")
    assert report.outcome.ref is not None and report.outcome.ref.run == 3


def test_report_of_the_checked_in_sla_breach_pairs_breaches_with_escalations() -> None:
    path = HISTORIES / "emergency-disclosure-v2-US-sla-breach.json"
    result = runner.invoke(app, ["audit", "report", "-f", "json", str(path)])
    report = AuditReport.model_validate_json(result.stdout)
    breaches = [(b.step, b.escalated_to, b.escalation is not None) for b in report.sla_breaches]
    assert breaches == [
        ("verify", "lead", True),
        ("callback", "lead", True),
        ("callback", "legal", True),
        ("callback", None, False),  # the chain was spent: goto, no notification
    ]
    assert [(e.step, e.to) for e in report.escalations] == [
        ("verify", "lead"),
        ("callback", "lead"),
        ("callback", "legal"),
    ]
    assert report.outcome.outcome == "declined"


def test_report_of_a_cancelled_incident_names_the_lead_and_the_reason() -> None:
    path = HISTORIES / "threat-to-life-v1-UK-cancelled.json"
    result = runner.invoke(app, ["audit", "report", str(path)])
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("# Audit report: inc-threat-to-life-v1-UK-cancelled\n")
    assert "| cancel_incident |" in md and "duplicate of an open incident" in md
    assert "**cancelled**, outcome **cancelled**" in md


def test_report_json_is_the_documented_model() -> None:
    path = HISTORIES / "emergency-disclosure-v2-US.json"
    result = runner.invoke(app, ["audit", "report", "--format", "json", str(path)])
    data = json.loads(result.stdout)
    assert data["report_format"] == 1
    assert set(data) == set(AuditReport.model_fields)
    [d] = data["disclosures"]
    assert (d["decision"], d["legal_basis"]) == (
        "needs_approval",
        "18 U.S.C. 2702(b)(8) and (c)(4)",
    )
    assert [(v["voter"], v["decision"]) for v in data["votes"]] == [
        ("dokafor", "approve"),
        ("ewhitfield", "approve"),
    ]


def test_report_usage_and_file_errors() -> None:
    assert runner.invoke(app, ["audit", "report", "-f", "pdf", "x.json"]).exit_code == 2
    result = runner.invoke(app, ["audit", "report", "missing.json"])
    assert result.exit_code == 1 and result.stderr == "error: missing.json: no such file\n"
