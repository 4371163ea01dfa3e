"""Reading an incident's history events for the audit report: one pass over every run,
decoding the payloads that matter (activity inputs and results, update requests, signals,
the final or carried state) and noting one timeline item per meaningful event.

``report`` turns what this collects into the report; see there what is authoritative.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from sopflow.audit.errors import AuditError
from sopflow.audit.payloads import Decoder, plain
from sopflow.audit.report_activities import activity_entry
from sopflow.audit.report_kinds import REQUESTS, RESULTS, UPDATES
from sopflow.audit.report_model import (
    EventRef,
    IncidentOutcome,
    RunSummary,
    SignalEntry,
    TimelineItem,
)
from sopflow.audit.report_records import (
    ACTIVITY_ENDS,
    WORKFLOW_CLOSES,
    ActivityRecord,
    UpdateRecord,
    event_time,
    human_seconds,
)
from sopflow.contract.messages import (
    ExternalEvent,
    IncidentInput,
    IncidentState,
    LinkNotice,
)
from sopflow.contract.names import SIGNAL_EVENT, SIGNAL_LINK
from sopflow.contract.plan import Plan


@dataclass
class _Run:
    """What reading one run carries from one event to the next."""

    number: int
    first: IncidentInput  # run 1's input: the plan, and who opened the incident
    activities: dict[int, ActivityRecord] = field(default_factory=dict)  # by scheduled event
    updates: dict[str, UpdateRecord] = field(default_factory=dict)  # by update id
    timers: dict[str, tuple[int, float]] = field(default_factory=dict)  # id: (event, seconds)
    closed_by: str = "running"
    closed_at: datetime | None = None
    plan: Plan | None = None  # this run's (run 1's from `first`, later ones from their input)

    def ref(self, ev: HistoryEvent) -> EventRef:
        return EventRef(run=self.number, event_id=ev.event_id)

    def where(self, ev: HistoryEvent) -> str:
        """``run 2 event 14``: how the notes name an event."""
        return f"run {self.number} event {ev.event_id}"

    def scheduled(self, ev: HistoryEvent, scheduled_event_id: int) -> ActivityRecord:
        """The activity an end event names; a history without it is not one Temporal wrote."""
        if scheduled_event_id not in self.activities:
            raise AuditError(
                f"{self.where(ev)} ends an activity scheduled at event {scheduled_event_id}, "
                "which this run does not have: the history is not one Temporal wrote"
            )
        return self.activities[scheduled_event_id]


@dataclass
class EventReader:
    """Collects what the report needs from the events of each run, in order."""

    decoder: Decoder
    notes: list[str] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)
    activities: list[ActivityRecord] = field(default_factory=list)
    updates: list[UpdateRecord] = field(default_factory=list)
    signals: list[SignalEntry] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    state: IncidentState | None = None
    state_source: str | None = None
    severity: str | None = None
    outcome: IncidentOutcome | None = None

    def item(self, ev: HistoryEvent, run: int, kind: str, **kw: Any) -> None:
        """Add a timeline item for event ``ev`` of run ``run``."""
        ref = EventRef(run=run, event_id=ev.event_id)
        self.timeline.append(TimelineItem(at=event_time(ev), ref=ref, kind=kind, **kw))

    async def run(self, number: int, history: WorkflowHistory, first: IncidentInput) -> None:
        """Read every event of run ``number`` (from 1); ``first`` is run 1's input."""
        run = _Run(number=number, first=first, plan=first.plan if number == 1 else None)
        for ev in history.events:
            read = _READERS.get(ev.WhichOneof("attributes") or "")
            if read is not None:
                await read(self, ev, run)
        self.runs.append(
            RunSummary(
                run=number,
                run_id=history.run_id,
                started_at=event_time(history.events[0]),
                closed_at=run.closed_at,
                events=len(history.events),
                closed_by=run.closed_by,
                version=run.plan.sop.version if run.plan else None,
                plan_hash=run.plan.plan_hash if run.plan else None,
                plan_hash_ok=run.plan.compute_hash() == run.plan.plan_hash if run.plan else None,
            )
        )

    # One reader per kind of event that matters, each registered in _READERS below.

    async def _started(self, ev: HistoryEvent, run: _Run) -> None:
        attrs = ev.workflow_execution_started_event_attributes
        if run.number == 1:
            plan = run.first.plan
            detail = (
                f"{plan.sop.id}@{plan.sop.version} ({plan.region.code}), plan "
                f"{plan.plan_hash[:12]}, client {attrs.identity or '-'}"
            )
            opener = run.first.opened_by
            self.item(ev, run.number, "incident.opened", actor=opener, detail=detail)
            for other in run.first.links:
                opener = run.first.opened_by
                self.item(
                    ev, run.number, "incident.linked", actor=opener, detail=f"duplicate of {other}"
                )
            if run.first.parent is not None:
                opened = f"opened by {run.first.parent} (step {run.first.parent_step})"
                self.item(ev, run.number, "incident.linked", detail=opened)
            return
        detail = f"run {run.number}, continued from {attrs.continued_execution_run_id}"
        self.item(ev, run.number, "run.started", detail=detail)
        what = f"{run.where(ev)}: the run's input"
        inp = await self.decoder.maybe(attrs.input, IncidentInput, what, self.notes)
        run.plan = inp.plan if inp is not None else None
        before = self.runs[-1].plan_hash if self.runs else None
        if run.plan is not None and before is not None and run.plan.plan_hash != before:
            after = f"{run.plan.sop.id}@{run.plan.sop.version}, plan {run.plan.plan_hash[:12]}"
            moved = f"from plan {before[:12]} to {after}"
            self.item(ev, run.number, "incident.migrated", detail=moved)

    async def _activity_scheduled(self, ev: HistoryEvent, run: _Run) -> None:
        a = ev.activity_task_scheduled_event_attributes
        name = a.activity_type.name
        kind = REQUESTS.get(name)
        request = None
        if kind is not None:
            what = f"{run.where(ev)}: the {name} request"
            request = await self.decoder.maybe(a.input, kind, what, self.notes)
        activity = ActivityRecord(name, event_time(ev), run.ref(ev), request)
        run.activities[ev.event_id] = activity
        self.activities.append(activity)

    async def _activity_completed(self, ev: HistoryEvent, run: _Run) -> None:
        c = ev.activity_task_completed_event_attributes
        activity = run.scheduled(ev, c.scheduled_event_id)
        activity.status, activity.completed = "completed", run.ref(ev)
        if activity.name in RESULTS:
            what = f"{run.where(ev)}: the {activity.name} result"
            kind = RESULTS[activity.name]
            activity.result = await self.decoder.maybe(c.result, kind, what, self.notes)
        self._activity_item(ev, run.number, activity)

    async def _activity_ended(self, ev: HistoryEvent, run: _Run) -> None:
        """An activity that failed, timed out or was cancelled."""
        which = ev.WhichOneof("attributes") or ""
        attrs = getattr(ev, which)
        activity = run.scheduled(ev, attrs.scheduled_event_id)
        activity.completed = run.ref(ev)
        activity.status = ACTIVITY_ENDS[which]
        failure = getattr(attrs, "failure", None)  # a cancellation carries none
        activity.failure = (
            await self.decoder.failure_text(failure) if failure is not None else "cancelled"
        )
        step = getattr(activity.request, "step", None)
        detail = f"{activity.name} {activity.status}: {activity.failure}"
        self.item(ev, run.number, "activity.failed", step=step, detail=detail)

    async def _update_accepted(self, ev: HistoryEvent, run: _Run) -> None:
        attrs = ev.workflow_execution_update_accepted_event_attributes
        req = attrs.accepted_request
        name = req.input.name
        kind = UPDATES.get(name)
        request = None
        if kind is None:
            self.notes.append(f"{run.where(ev)}: an unknown update {name!r}")
        else:
            what = f"{run.where(ev)}: the {name} request"
            request = await self.decoder.maybe(req.input.args, kind, what, self.notes)
        update = UpdateRecord(
            at=event_time(ev),
            ref=run.ref(ev),
            update_id=req.meta.update_id,
            name=name,
            request=request,
            identity=req.meta.identity,
        )
        run.updates[update.update_id] = update
        self.updates.append(update)

    async def _update_completed(self, ev: HistoryEvent, run: _Run) -> None:
        done = ev.workflow_execution_update_completed_event_attributes
        update = run.updates.get(done.meta.update_id)
        if update is None:
            return
        update.completed = run.ref(ev)
        if done.outcome.HasField("failure"):
            update.result = "handler_failed"
            update.failure = await self.decoder.failure_text(done.outcome.failure)
        else:
            update.result = "applied"

    async def _signal(self, ev: HistoryEvent, run: _Run) -> None:
        attrs = ev.workflow_execution_signaled_event_attributes
        if attrs.signal_name == SIGNAL_LINK:
            what = f"{run.where(ev)}: the link"
            notice = await self.decoder.maybe(attrs.input, LinkNotice, what, self.notes)
            if notice is not None:
                detail = f"{notice.relation} opened: {notice.incident}"
                self.item(ev, run.number, "incident.linked", actor=notice.by, detail=detail)
            return
        name, data = attrs.signal_name, {}
        if attrs.signal_name == SIGNAL_EVENT:
            what = f"{run.where(ev)}: the signal"
            event = await self.decoder.maybe(attrs.input, ExternalEvent, what, self.notes)
            if event is not None:
                name, data = event.name, dict(event.data)
        self.signals.append(
            SignalEntry(
                at=event_time(ev),
                ref=run.ref(ev),
                name=name,
                data=data,
                client_identity=attrs.identity,
            )
        )
        self.item(ev, run.number, "event.received", actor="external", detail=name)

    async def _timer_started(self, ev: HistoryEvent, run: _Run) -> None:
        t = ev.timer_started_event_attributes
        seconds = t.start_to_fire_timeout.ToTimedelta().total_seconds()
        run.timers[t.timer_id] = (ev.event_id, seconds)

    async def _timer_fired(self, ev: HistoryEvent, run: _Run) -> None:
        started_id, seconds = run.timers.get(ev.timer_fired_event_attributes.timer_id, (0, 0.0))
        detail = f"{human_seconds(seconds)} timer started at event {started_id}"
        self.item(ev, run.number, "timer.fired", detail=detail)

    async def _attributes_upserted(self, ev: HistoryEvent, run: _Run) -> None:
        fields = ev.upsert_workflow_search_attributes_event_attributes.search_attributes
        values = {k: plain(v) for k, v in sorted(fields.indexed_fields.items())}
        if isinstance(values.get("Severity"), str):
            self.severity = values["Severity"]
        detail = ", ".join(f"{k}={_attribute(v)}" for k, v in values.items())
        self.item(ev, run.number, "attributes", detail=detail)

    async def _marker(self, ev: HistoryEvent, run: _Run) -> None:
        name = ev.marker_recorded_event_attributes.marker_name
        self.item(ev, run.number, "marker", detail=name)

    async def _workflow_task_failed(self, ev: HistoryEvent, run: _Run) -> None:
        failed = ev.workflow_task_failed_event_attributes.failure
        failure = await self.decoder.failure_text(failed)
        self.item(ev, run.number, "workflow_task.failed", detail=failure)
        self.notes.append(f"{run.where(ev)}: a workflow task failed and was retried: {failure}")

    async def _completed(self, ev: HistoryEvent, run: _Run) -> None:
        """The workflow returned: its result is the incident's final state."""
        at = event_time(ev)
        run.closed_by, run.closed_at = "completed", at
        result = ev.workflow_execution_completed_event_attributes.result
        what = f"{run.where(ev)}: the incident's final state"
        state = await self.decoder.maybe(result, IncidentState, what, self.notes)
        if state is not None:
            self.state, self.state_source = state, f"the completion result of run {run.number}"
            run.closed_by = state.status
        status = state.status if state else "completed"
        outcome = state.outcome if state else None
        self.outcome = IncidentOutcome(
            status=status, outcome=outcome, closed_at=at, ref=run.ref(ev)
        )
        self.item(ev, run.number, "incident.closed", detail=f"{status}: {outcome or '-'}")

    async def _closed(self, ev: HistoryEvent, run: _Run) -> None:
        """The workflow failed, was terminated, cancelled or timed out: no final state."""
        which = ev.WhichOneof("attributes") or ""
        at = event_time(ev)
        run.closed_by, run.closed_at = WORKFLOW_CLOSES[which], at
        detail = await self._close_detail(ev, which)
        self.outcome = IncidentOutcome(
            status=run.closed_by, outcome=None, closed_at=at, ref=run.ref(ev), detail=detail
        )
        self.item(ev, run.number, f"workflow.{run.closed_by}", detail=detail)

    async def _continued_as_new(self, ev: HistoryEvent, run: _Run) -> None:
        run.closed_by, run.closed_at = "continued_as_new", event_time(ev)
        can = ev.workflow_execution_continued_as_new_event_attributes
        what = f"{run.where(ev)}: the state carried to the next run"
        carried = await self.decoder.maybe(can.input, IncidentInput, what, self.notes)
        if carried is not None and carried.carried is not None:
            self.state = carried.carried
            self.state_source = f"the state run {run.number} carried by continue-as-new"
        detail = f"continued as new: run {run.number + 1} ({can.new_execution_run_id})"
        self.item(ev, run.number, "run.continued", detail=detail)

    async def _close_detail(self, ev: HistoryEvent, which: str) -> str:
        attrs = getattr(ev, which)
        if which == "workflow_execution_terminated_event_attributes":
            return f"terminated by {attrs.identity or '-'}: {attrs.reason or 'no reason given'}"
        if which == "workflow_execution_failed_event_attributes":
            return await self.decoder.failure_text(attrs.failure)
        return ""

    async def _child_started(self, ev: HistoryEvent, run: _Run) -> None:
        attrs = ev.start_child_workflow_execution_initiated_event_attributes
        detail = f"opened {attrs.workflow_id} ({attrs.workflow_type.name})"
        self.item(ev, run.number, "incident.linked", detail=detail)

    async def _child_closed(self, ev: HistoryEvent, run: _Run) -> None:
        which = ev.WhichOneof("attributes") or ""
        attrs = getattr(ev, which)
        how = which.removeprefix("child_workflow_execution_").removesuffix("_event_attributes")
        detail = f"{attrs.workflow_execution.workflow_id} {how}"
        self.item(ev, run.number, "link.closed", detail=detail)

    def _activity_item(self, ev: HistoryEvent, number: int, a: ActivityRecord) -> None:
        kind, step, detail = activity_entry(a.name, a.request, a.result)
        self.item(ev, number, kind, step=step, detail=detail)


_Reader = Callable[[EventReader, HistoryEvent, _Run], Awaitable[None]]
_READERS: dict[str, _Reader] = {
    "workflow_execution_started_event_attributes": EventReader._started,
    "activity_task_scheduled_event_attributes": EventReader._activity_scheduled,
    "activity_task_completed_event_attributes": EventReader._activity_completed,
    **dict.fromkeys(ACTIVITY_ENDS, EventReader._activity_ended),
    "workflow_execution_update_accepted_event_attributes": EventReader._update_accepted,
    "workflow_execution_update_completed_event_attributes": EventReader._update_completed,
    "workflow_execution_signaled_event_attributes": EventReader._signal,
    "timer_started_event_attributes": EventReader._timer_started,
    "timer_fired_event_attributes": EventReader._timer_fired,
    "upsert_workflow_search_attributes_event_attributes": EventReader._attributes_upserted,
    "marker_recorded_event_attributes": EventReader._marker,
    "workflow_task_failed_event_attributes": EventReader._workflow_task_failed,
    "workflow_execution_completed_event_attributes": EventReader._completed,
    **dict.fromkeys(WORKFLOW_CLOSES, EventReader._closed),
    "workflow_execution_continued_as_new_event_attributes": EventReader._continued_as_new,
    "start_child_workflow_execution_initiated_event_attributes": EventReader._child_started,
    **dict.fromkeys(
        (
            f"child_workflow_execution_{how}_event_attributes"
            for how in ("completed", "failed", "canceled", "terminated", "timed_out")
        ),
        EventReader._child_closed,
    ),
}


def _attribute(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
