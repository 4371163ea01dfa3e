"""The audit report, built from the history's events alone (no query, no worker), so it works
offline on an exported file and for closed incidents.

What is authoritative: the events. Actions are the accepted Updates (their requests are in
the WorkflowExecutionUpdateAccepted events, their results in UpdateCompleted); disclosure
decisions, notifications and escalations are the activities' scheduled inputs and completed
results; signals, timers and search-attribute writes are their own events. An SLA breach
whose escalation chain is spent sends nothing, so it has no event of its own: breaches come
from the ``sla.breached`` entries of the last state the history holds (the completion
result, or the state carried by the last continue-as-new), each paired with its escalation
notification event; an escalation sent after that state, or missing from it, is listed as a
breach inferred from the notification (and, when the state is final, noted as a
discrepancy).

The incident's post-mortem review, when its runs are given, is read from its own history
(``report_review``) into ``postmortem_review``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio.client import WorkflowHistory

from sopflow.audit.payloads import DecodeError, Decoder
from sopflow.audit.report_events import EventReader
from sopflow.audit.report_model import (
    Action,
    AuditReport,
    Breach,
    DisclosureEntry,
    IncidentOutcome,
    NotificationEntry,
    RecordedEntry,
    ReviewReport,
    SopRef,
    Source,
    StepSummary,
    TimelineItem,
    VoteEntry,
)
from sopflow.audit.report_records import ActivityRecord, UpdateRecord
from sopflow.audit.report_review import review_report
from sopflow.audit.report_updates import stakeholder_updates
from sopflow.audit.signatures import check_action
from sopflow.client.signing import KeyRing
from sopflow.contract.messages import (
    Cancel,
    CompleteTask,
    DisclosureRequest,
    DisclosureResult,
    IncidentState,
    Migrate,
    Note,
    NotifyRequest,
    NotifyResult,
    PostUpdate,
    SignedAction,
    Vote,
)
from sopflow.contract.names import (
    ESCALATION_CHANNEL,
    UPDATE_CANCEL,
    UPDATE_COMPLETE,
    UPDATE_MIGRATE,
    UPDATE_NOTE,
    UPDATE_POST,
    UPDATE_VOTE,
)

_ESCALATED = "escalated to "


async def build_report(
    runs: Sequence[WorkflowHistory],
    decoder: Decoder,
    source: Source,
    *,
    workflow_id: str | None = None,
    now: datetime | None = None,
    keys: KeyRing | None = None,
    review_runs: Sequence[WorkflowHistory] = (),
) -> AuditReport:
    """The report of the incident whose runs (first to last) are ``runs``, and of its
    post-mortem review when ``review_runs`` are given; with ``keys``, each action's
    signature is checked against them (without, only the key it names is shown). Raises
    DecodeError when the first run's input (the plan) cannot be decoded: without it there
    is no incident to report on."""
    first = await decoder.incident_input(runs[0], "run 1")
    reader = EventReader(decoder)
    for number, run in enumerate(runs, start=1):
        await reader.run(number, run, first)
    plan, state = first.plan, reader.state
    started = runs[0].events[0].workflow_execution_started_event_attributes
    outcome, notes = _outcome(reader)
    actions = [_action(u, first.incident_id, keys) for u in reader.updates]
    notifications = [n for a in reader.activities if (n := _notification(a)) is not None]
    escalations = [n for n in notifications if n.escalation]
    final = state is not None and state.status != "running"
    review = await _review(review_runs, decoder, keys, notes)
    return AuditReport(
        generated_at=(now or datetime.now(UTC)),
        source=source,
        incident_id=first.incident_id,
        workflow_id=workflow_id or started.workflow_id or first.incident_id,
        sop=SopRef(
            id=plan.sop.id, version=plan.sop.version, title=plan.sop.title, owner=plan.sop.owner
        ),
        region=plan.region.code,
        plan_hash=plan.plan_hash,
        plan_hash_ok=plan.compute_hash() == plan.plan_hash,
        opened_by=first.opened_by,
        opened_at=reader.runs[0].started_at,
        severity=(state.severity if state else None) or reader.severity,
        outcome=outcome,
        runs=reader.runs,
        actions=actions,
        votes=[v for a in actions if (v := _vote(a)) is not None],
        disclosures=[d for a in reader.activities if (d := _disclosure(a)) is not None],
        notifications=notifications,
        escalations=escalations,
        # Appends to notes what the breaches and the escalations disagree on.
        sla_breaches=_breaches(state, escalations, notes, final=final),
        signals=reader.signals,
        steps=_steps(state),
        timeline=_timeline(reader.timeline, actions),
        state_source=reader.state_source,
        recorded_timeline=_recorded_timeline(state),
        stakeholder_updates=stakeholder_updates(state),
        postmortem_review=review,
        notes=notes,
    )


async def _review(
    runs: Sequence[WorkflowHistory], decoder: Decoder, keys: KeyRing | None, notes: list[str]
) -> ReviewReport | None:
    """The review's section; None without its runs (or, noted, when its input is garbled)."""
    if not runs:
        return None
    try:
        return await review_report(runs, decoder, keys)
    except DecodeError as exc:
        notes.append(f"the post-mortem review cannot be reported: {exc}")
        return None


def _outcome(reader: EventReader) -> tuple[IncidentOutcome, list[str]]:
    """How the history ends, and the reader's notes with one on a history that is not over."""
    outcome = reader.outcome or IncidentOutcome(status="running", outcome=None)
    notes = list(reader.notes)
    if reader.runs[-1].closed_by == "continued_as_new":
        outcome = IncidentOutcome(status="incomplete", outcome=None)
        notes.append("the history ends with a continue-as-new: the later runs are missing")
    elif outcome.status == "running":
        notes.append("the incident is still running: this report covers its history so far")
    return outcome, notes


def _timeline(items: list[TimelineItem], actions: list[Action]) -> list[TimelineItem]:
    """The events' timeline items and the actions', in history order."""
    return sorted(
        [*items, *(_action_item(a) for a in actions)],
        key=lambda i: (i.ref.run, i.ref.event_id),
    )


def _recorded_timeline(state: IncidentState | None) -> list[RecordedEntry]:
    return [
        RecordedEntry(at=e.at, actor=e.actor, kind=e.kind, step=e.step, detail=e.detail)
        for e in (state.timeline if state else [])
    ]


def _action(u: UpdateRecord, incident_id: str, keys: KeyRing | None) -> Action:
    req = u.request
    signed = isinstance(req, SignedAction)
    common = {
        "at": u.at,
        "ref": u.ref,
        "update_id": u.update_id,
        "action": u.name,
        "client_identity": u.identity,
        "result": u.result,
        "failure": u.failure,
        "completed_ref": u.completed,
        "signature": check_action(req, incident_id, u.update_id, keys) if signed else None,
    }
    if isinstance(req, CompleteTask):
        return Action(
            **common, actor=req.actor.id, roles=req.actor.roles, step=req.step, data=req.data
        )
    if isinstance(req, Vote):
        return Action(
            **common,
            actor=req.actor.id,
            roles=req.actor.roles,
            step=req.step,
            decision=req.decision,
            reason=req.reason,
        )
    if isinstance(req, Note):
        return Action(
            **common, actor=req.actor.id, roles=req.actor.roles, step=req.step, reason=req.text
        )
    if isinstance(req, PostUpdate):
        return Action(**common, actor=req.actor.id, roles=req.actor.roles, reason=req.text)
    if isinstance(req, Cancel | Migrate):
        return Action(**common, actor=req.actor.id, roles=req.actor.roles, reason=req.reason)
    return Action(**common, actor=None)  # undecodable or unknown: see the notes


_ACTION_KINDS = {
    UPDATE_COMPLETE: "task.completed",
    UPDATE_NOTE: "note",
    UPDATE_CANCEL: "cancel.requested",
    UPDATE_MIGRATE: "migration.requested",
    UPDATE_POST: "update.posted",
}


def _action_item(a: Action) -> TimelineItem:
    kind = f"vote.{a.decision}" if a.action == UPDATE_VOTE else _ACTION_KINDS.get(a.action)
    detail = a.reason or ""
    if a.result == "handler_failed":
        detail = f"{detail} (accepted, but its handler failed: {a.failure})".strip()
    elif a.result == "no_outcome":
        detail = f"{detail} (accepted, no outcome recorded)".strip()
    return TimelineItem(
        at=a.at,
        ref=a.ref,
        kind=kind or f"update.{a.action}",
        actor=a.actor or "?",
        step=a.step,
        detail=detail,
    )


def _vote(a: Action) -> VoteEntry | None:
    if a.decision is None or a.actor is None or a.step is None:
        return None
    return VoteEntry(
        at=a.at,
        ref=a.ref,
        step=a.step,
        voter=a.actor,
        roles=a.roles,
        decision=a.decision,
        reason=a.reason or "",
        result=a.result,
    )


def _disclosure(a: ActivityRecord) -> DisclosureEntry | None:
    req = a.request
    if not isinstance(req, DisclosureRequest):
        return None
    res = a.result if isinstance(a.result, DisclosureResult) else None
    rule_when = None
    if res is not None and 0 <= res.rule < len(req.policy.rules):
        rule_when = req.policy.rules[res.rule].when
    return DisclosureEntry(
        step=req.step,
        at=a.at,
        scheduled=a.ref,
        completed=a.completed,
        policy=req.policy.id,
        policy_title=req.policy.title,
        jurisdiction=req.policy.jurisdiction,
        facts=req.facts,
        status=a.status,
        decision=res.decision if res else None,
        legal_basis=res.legal_basis if res else None,
        allowed=list(res.allow) if res else [],
        reason=res.reason if res else None,
        rule=res.rule if res else None,
        rule_when=rule_when,
        record_hash=(res.record_hash or None) if res else None,
        failure=a.failure,
    )


def _notification(a: ActivityRecord) -> NotificationEntry | None:
    req = a.request
    if not isinstance(req, NotifyRequest):
        return None
    res = a.result if isinstance(a.result, NotifyResult) else None
    return NotificationEntry(
        step=req.step,
        at=a.at,
        scheduled=a.ref,
        completed=a.completed,
        channel=req.channel,
        to=req.to,
        to_is_role=req.to_is_role,
        escalation=req.channel == ESCALATION_CHANNEL,
        status=a.status,
        delivered=res.delivered if res else None,
        failure=a.failure,
    )


def _breaches(
    state: IncidentState | None,
    escalations: list[NotificationEntry],
    notes: list[str],
    *,
    final: bool,
) -> list[Breach]:
    """Recorded breaches, each paired with its escalation; then unpaired escalations."""
    unpaired = list(escalations)
    out: list[Breach] = []
    for entry in state.timeline if state else []:
        if entry.kind != "sla.breached" or entry.step is None:
            continue
        role = entry.detail[len(_ESCALATED) :] if entry.detail.startswith(_ESCALATED) else None
        match = next((n for n in unpaired if n.step == entry.step and n.to == role), None)
        if match is not None:
            unpaired.remove(match)
        elif role is not None:
            notes.append(
                f"the breach of {entry.step!r} at {entry.at.isoformat()} escalated to {role} "
                "but the history has no escalation notification for it"
            )
        out.append(
            Breach(
                step=entry.step,
                at=entry.at,
                detail=entry.detail,
                escalated_to=role,
                escalation=match.scheduled if match else None,
                source="recorded timeline",
            )
        )
    for n in unpaired:
        if final:
            notes.append(
                f"the escalation notification at run {n.scheduled.run} event "
                f"{n.scheduled.event_id} has no sla.breached entry in the final state"
            )
        out.append(
            Breach(
                step=n.step,
                at=n.at,
                detail=f"{_ESCALATED}{n.to}",
                escalated_to=n.to,
                escalation=n.scheduled,
                source="escalation notification",
            )
        )
    return out


def _steps(state: IncidentState | None) -> list[StepSummary]:
    if state is None:
        return []
    return [
        StepSummary(
            id=s.id,
            type=s.type,
            status=s.status,
            role=s.role,
            started_at=s.started_at,
            finished_at=s.finished_at,
            submitted_by=s.submitted_by,
            breaches=s.breaches,
            escalated_to=list(s.escalated_to),
        )
        for s in state.steps.values()
    ]
