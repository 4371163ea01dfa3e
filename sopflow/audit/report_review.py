"""The audit report's post-mortem review: read from the review's own history events, as the
incident's report is from the incident's (``report``): its input (owner, due date, the step
that opened it), every accepted ``review_action`` Update with who signed it, the reminders
and escalations its notify activities sent, and how it ended.

Action items, the root cause and who marked it done are rebuilt from the applied actions in
history order (the workflow numbers items ``A1``, ``A2``, ... as it applies ``add_item``);
the review's result, when it completed, is compared with them and any disagreement noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from sopflow.audit.payloads import Decoder
from sopflow.audit.report_model import (
    ActionResult,
    EventRef,
    ReviewActionEntry,
    ReviewCauseEntry,
    ReviewItemEntry,
    ReviewNotice,
    ReviewReport,
)
from sopflow.audit.report_records import (
    ACTIVITY_ENDS,
    WORKFLOW_CLOSES,
    ActivityRecord,
    UpdateRecord,
    event_time,
)
from sopflow.audit.signatures import check_action
from sopflow.client.signing import KeyRing
from sopflow.contract.messages import NotifyRequest, NotifyResult
from sopflow.contract.names import ACT_NOTIFY, UPDATE_REVIEW
from sopflow.contract.reviews import ReviewAction, ReviewInput, ReviewState


@dataclass
class _Reader:
    """What one pass over the review's runs collects."""

    decoder: Decoder
    notes: list[str] = field(default_factory=list)
    notices: list[ActivityRecord] = field(default_factory=list)
    updates: list[UpdateRecord] = field(default_factory=list)
    final: ReviewState | None = None
    status: str = "open"

    async def run(self, number: int, history: WorkflowHistory) -> None:
        """Read run ``number`` (from 1) of the review."""
        scheduled: dict[int, ActivityRecord] = {}
        updates: dict[str, UpdateRecord] = {}
        for ev in history.events:
            ref = EventRef(run=number, event_id=ev.event_id)
            which = ev.WhichOneof("attributes") or ""
            if which == "activity_task_scheduled_event_attributes":
                await self._scheduled(ev, ref, scheduled)
            elif which == "activity_task_completed_event_attributes" or which in ACTIVITY_ENDS:
                await self._ended(ev, which, ref, scheduled)
            elif which == "workflow_execution_update_accepted_event_attributes":
                await self._accepted(ev, ref, updates)
            elif which == "workflow_execution_update_completed_event_attributes":
                await self._update_completed(ev, ref, updates)
            elif which == "workflow_execution_completed_event_attributes":
                result = ev.workflow_execution_completed_event_attributes.result
                what = f"review run {number} event {ev.event_id}: the review's result"
                self.final = await self.decoder.maybe(result, ReviewState, what, self.notes)
                self.status = self.final.status if self.final else "closed"
            elif which in WORKFLOW_CLOSES:
                self.status = WORKFLOW_CLOSES[which]

    async def _scheduled(
        self, ev: HistoryEvent, ref: EventRef, scheduled: dict[int, ActivityRecord]
    ) -> None:
        attrs = ev.activity_task_scheduled_event_attributes
        if attrs.activity_type.name != ACT_NOTIFY:
            return
        what = f"review run {ref.run} event {ref.event_id}: the notice"
        request = await self.decoder.maybe(attrs.input, NotifyRequest, what, self.notes)
        record = ActivityRecord(ACT_NOTIFY, event_time(ev), ref, request)
        scheduled[ev.event_id] = record
        self.notices.append(record)

    async def _ended(
        self, ev: HistoryEvent, which: str, ref: EventRef, scheduled: dict[int, ActivityRecord]
    ) -> None:
        attrs = getattr(ev, which)
        record = scheduled.get(attrs.scheduled_event_id)
        if record is None:
            return
        record.completed = ref
        if which == "activity_task_completed_event_attributes":
            record.status = "completed"
            what = f"review run {ref.run} event {ref.event_id}: the notice's result"
            record.result = await self.decoder.maybe(attrs.result, NotifyResult, what, self.notes)
            return
        record.status = ACTIVITY_ENDS[which]
        failure = getattr(attrs, "failure", None)
        record.failure = (
            await self.decoder.failure_text(failure) if failure is not None else "cancelled"
        )

    async def _accepted(
        self, ev: HistoryEvent, ref: EventRef, updates: dict[str, UpdateRecord]
    ) -> None:
        req = ev.workflow_execution_update_accepted_event_attributes.accepted_request
        name, request = req.input.name, None
        if name != UPDATE_REVIEW:
            self.notes.append(
                f"review run {ref.run} event {ref.event_id}: an unknown update {name!r}"
            )
        else:
            what = f"review run {ref.run} event {ref.event_id}: the {name} request"
            request = await self.decoder.maybe(req.input.args, ReviewAction, what, self.notes)
        update = UpdateRecord(
            event_time(ev), ref, req.meta.update_id, name, request, req.meta.identity
        )
        updates[update.update_id] = update
        self.updates.append(update)

    async def _update_completed(
        self, ev: HistoryEvent, ref: EventRef, updates: dict[str, UpdateRecord]
    ) -> None:
        done = ev.workflow_execution_update_completed_event_attributes
        update = updates.get(done.meta.update_id)
        if update is None:
            return
        update.completed = ref
        if done.outcome.HasField("failure"):
            update.result = "handler_failed"
            update.failure = await self.decoder.failure_text(done.outcome.failure)
        else:
            update.result = "applied"


async def review_report(
    runs: Sequence[WorkflowHistory], decoder: Decoder, keys: KeyRing | None
) -> ReviewReport:
    """The report section of the review whose runs (first to last) are ``runs``. Raises
    DecodeError when its input cannot be decoded."""
    inp = await decoder.review_input(runs[0], "review run 1")
    reader = _Reader(decoder)
    for number, run in enumerate(runs, start=1):
        await reader.run(number, run)
    actions = [_action(u, inp, keys) for u in reader.updates]
    state = _Applied()
    for update in reader.updates:
        if isinstance(update.request, ReviewAction) and update.result == "applied":
            state.apply(update.request, update)
    notes = [*reader.notes, *_disagreements(state, reader.final)]
    return ReviewReport(
        review_id=inp.review_id,
        step=inp.step,
        document=inp.document,
        owner=inp.owner,
        due_at=inp.due_at,
        escalate_to=inp.escalate_to,
        opened_at=event_time(runs[0].events[0]),
        runs=len(runs),
        status=reader.status,
        done_by=state.done[0] if state.done else None,
        done_at=state.done[1] if state.done else None,
        done_ref=state.done[2] if state.done else None,
        done_note=state.done[3] if state.done else None,
        items=state.items,
        root_cause=state.cause,
        notices=[n for r in reader.notices if (n := _notice(r, inp.review_id)) is not None],
        actions=actions,
        notes=notes,
    )


@dataclass
class _Applied:
    """The review as its applied actions made it, in history order."""

    items: list[ReviewItemEntry] = field(default_factory=list)
    cause: ReviewCauseEntry | None = None
    done: tuple[str, datetime, EventRef, str | None] | None = None

    def apply(self, req: ReviewAction, u: UpdateRecord) -> None:
        actor = req.actor.id
        if req.kind == "add_item" and req.title and req.owner and req.due_at:
            self.items.append(
                ReviewItemEntry(
                    id=f"A{len(self.items) + 1}",
                    title=req.title.strip(),
                    owner=req.owner.strip(),
                    due_at=req.due_at,
                    added_by=actor,
                    added_at=u.at,
                    added_ref=u.ref,
                )
            )
        elif req.kind == "close_item":
            self.items = [
                i.model_copy(
                    update={
                        "status": "closed",
                        "closed_by": actor,
                        "closed_at": u.at,
                        "closed_ref": u.ref,
                        "note": (req.note or "").strip(),
                    }
                )
                if i.id == req.item
                else i
                for i in self.items
            ]
        elif req.kind == "root_cause":
            self.cause = ReviewCauseEntry(
                factors=[f.strip() for f in req.factors],
                step=req.cause_step,
                policy=req.policy,
                changes=(req.changes or "").strip(),
                recorded_by=actor,
                recorded_at=u.at,
                ref=u.ref,
                revisions=0 if self.cause is None else self.cause.revisions + 1,
            )
        elif req.kind == "done":
            self.done = (actor, u.at, u.ref, req.note)


def _action(u: UpdateRecord, inp: ReviewInput, keys: KeyRing | None) -> ReviewActionEntry:
    req = u.request if isinstance(u.request, ReviewAction) else None
    return ReviewActionEntry(
        at=u.at,
        ref=u.ref,
        update_id=u.update_id,
        kind=req.kind if req else None,
        actor=req.actor.id if req else None,
        roles=list(req.actor.roles) if req else [],
        item=req.item if req else None,
        note=_said(req) if req else None,
        client_identity=u.identity,
        result=cast(ActionResult, u.result),
        failure=u.failure,
        signature=check_action(req, inp.review_id, u.update_id, keys) if req else None,
    )


def _said(req: ReviewAction) -> str | None:
    """What the action says, in a line: an item's title, a note, the factors."""
    match req.kind:
        case "add_item":
            due = req.due_at.isoformat() if req.due_at else "-"
            return f'"{req.title}" (owner {req.owner}, due {due})'
        case "root_cause":
            named = [f"step {req.cause_step}"] if req.cause_step else []
            named += [f"policy {req.policy}"] if req.policy else []
            return ", ".join([*req.factors, *named]) + (f": {req.changes}" if req.changes else "")
        case _:
            return req.note


def _notice(record: ActivityRecord, review: str) -> ReviewNotice | None:
    req = record.request
    if not isinstance(req, NotifyRequest):
        return None
    key = req.idempotency_key.removeprefix(f"{review}/")
    result = record.result if isinstance(record.result, NotifyResult) else None
    return ReviewNotice(
        key=key,
        to=req.to,
        to_is_role=req.to_is_role,
        escalation=key.endswith("/overdue"),
        at=record.at,
        scheduled=record.ref,
        status=record.status,
        delivered=result.delivered if result else None,
        failure=record.failure,
    )


def _disagreements(applied: _Applied, final: ReviewState | None) -> list[str]:
    """Where the review's result and the actions its history records disagree."""
    if final is None:
        return []
    notes: list[str] = []
    ours = [(i.id, i.status, i.closed_by) for i in applied.items]
    theirs = [(i.id, i.status, i.closed_by) for i in final.items]
    if ours != theirs:
        notes.append(f"the review's result lists items {theirs}, its actions {ours}")
    if final.closed_by != (applied.done[0] if applied.done else None):
        notes.append(f"the review's result says it was closed by {final.closed_by!r}")
    return notes
