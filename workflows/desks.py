"""The clocks of steps that wait on people: when each is due, and which desk holds it.

A plain ``sla`` runs 24/7 from the step's start. ``sla: {business: 8h}`` counts the holding
desk's business time and ``sla: {until: ...}`` is an instant from the incident; a step that
follows the sun moves to the next desk on shift when its desk's turn ends. Desk calendars
and who is on call are read from the Rota by activities at run time, so their answers are
in the history and a replay reaches the same instants.

``StepRunner`` inherits these; it provides the incident, ``log``, ``variables`` and
``flush_search_attributes``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract.desks import (
        BusinessDue,
        BusinessDueRequest,
        DeskTurn,
        DeskTurnRequest,
    )
    from sopflow.contract.messages import IncidentState, StepState
    from sopflow.contract.names import ACT_BUSINESS_DUE, ACT_DESK_TURN
    from sopflow.contract.plan import ApprovalPlan, TaskPlan
    from workflows.parts import UNTIL_FIXED, RunnerPart

PeopleStep = TaskPlan | ApprovalPlan
# With no change of desk in sight, the Rota is read again after this long.
REREAD_AFTER = timedelta(days=1)


class DeskClocks(RunnerPart):
    """Deadlines and hand-offs for tasks and approvals."""

    state: IncidentState
    busy: int  # activities running now

    async def _ask_rota(self, name: str, request: Any, result_type: type[Any]) -> Any:
        self.busy += 1  # no migration while an activity runs
        try:
            return await workflow.execute_activity(
                name,
                request,
                result_type=result_type,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=UNTIL_FIXED,  # a broken rota.yaml waits for its fix,
            )
        finally:
            self.busy -= 1

    # --- due times

    async def first_deadline(self, step: PeopleStep) -> datetime:
        """When the step is first due, from now."""
        if step.sla_until is not None:
            value = conductor.check(step.id, step.sla_until, self.variables())
            if not isinstance(value, datetime):
                raise conductor.ExpressionFailed(
                    step.id, step.sla_until, TypeError("`sla.until` is not a timestamp")
                )
            return value
        return await self.next_deadline(step, workflow.now())

    async def next_deadline(self, step: PeopleStep, after: datetime) -> datetime:
        """The next due time, one SLA after ``after`` (business time for a business clock)."""
        if step.sla_clock != "business":
            return after + timedelta(seconds=step.sla_s)
        s = self.state.steps[step.id]
        request = BusinessDueRequest(
            incident_id=self.state.incident_id,
            step=step.id,
            desk=s.desk or self.state.region,
            start=after,
            seconds=step.sla_s,
        )
        due: BusinessDue = await self._ask_rota(ACT_BUSINESS_DUE, request, BusinessDue)
        paused = f"; paused: {', '.join(due.paused)}" if due.paused else ""
        detail = f"due {_utc(due.due)}, business hours of the {request.desk} desk{paused}"
        self.log("system", "sla.clock", step.id, detail)
        return due.due

    # --- waiting, with hand-offs

    async def wait_for_people(
        self, step: PeopleStep, done: Callable[[], bool], deadline: datetime | None
    ) -> bool:
        """Wait until ``done`` (True) or ``deadline`` passes (False), handing the step on
        whenever its desk's turn ends first."""
        s = self.state.steps[step.id]
        while True:
            stops = [t for t in (deadline, s.turn_until) if t is not None]
            if not stops:
                await workflow.wait_condition(done)
                return True
            remaining = max((min(stops) - workflow.now()).total_seconds(), 1.0)
            try:
                await workflow.wait_condition(done, timeout=timedelta(seconds=remaining))
                return True
            except TimeoutError:
                pass
            if deadline is not None and workflow.now() >= deadline:
                return False
            await self.hand_off(step)

    async def take_turn(self, step: PeopleStep) -> None:
        """At the start of a step that follows the sun: the desk on shift for its roles takes
        it (the incident's own desk when it is on shift)."""
        s = self.state.steps[step.id]
        s.desk, s.desk_since = self.state.region, workflow.now()
        await self.hand_off(step, at_open=True)

    async def hand_off(self, step: PeopleStep, *, at_open: bool = False) -> None:
        """Ask the Rota who holds the step from now; move it there if that is another desk."""
        s = self.state.steps[step.id]
        holder = s.desk or self.state.region
        roles, every = _turn_roles(step)
        request = DeskTurnRequest(
            incident_id=self.state.incident_id,
            step=step.id,
            roles=roles,
            every=every,
            holder=holder,
            at=workflow.now(),
        )
        s.routing = True
        try:
            turn: DeskTurn = await self._ask_rota(ACT_DESK_TURN, request, DeskTurn)
        finally:
            s.routing = False
        s.turn_until = turn.until or workflow.now() + REREAD_AFTER
        if turn.desk == holder:
            return
        when = "as it opened" if at_open else "at shift change"
        detail = f"{holder} -> {turn.desk} {when}: {turn.reason}"
        if not at_open:
            detail += f"; open {_duration(workflow.now() - (s.started_at or workflow.now()))}"
            detail += f"; {self._handoff_note(step, s)}"
        if s.claimed_by is not None:  # whoever held it has left with their desk's shift
            detail += f"; {s.claimed_by}'s claim released"
            s.claimed_by = None
        self.log("system", "step.handed_off", step.id, detail)
        s.desk, s.desk_since = turn.desk, workflow.now()
        self.flush_search_attributes()

    def _handoff_note(self, step: PeopleStep, s: StepState) -> str:
        """The outgoing desk's last note on the step (a plain note, or the text of a
        release), or what the system knows of it."""
        since = s.desk_since or s.started_at
        notes = [
            e
            for e in self.state.timeline
            if e.kind in ("note", "work.released")
            and e.step == step.id
            and (since is None or e.at >= since)
        ]
        if notes:
            return f"note from {notes[-1].actor}: {notes[-1].detail}"
        waiting = f"waiting on {', '.join(s.roles) or 'its roles'}"
        if isinstance(step, ApprovalPlan):
            approvals = sum(1 for v in s.votes if v.decision == "approve")
            waiting += f", {approvals} of {step.quorum} approvals"
        return f"no hand-off note; {waiting}"


def _turn_roles(step: PeopleStep) -> tuple[list[str], bool]:
    """The roles a desk must have on call to take the step, and whether it needs all."""
    if isinstance(step, TaskPlan):
        return [step.assignee], True
    if step.requires is not None:
        return [r.role for r in step.requires], True
    return list(step.approvers), False


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
