"""Executing steps: the Temporal commands behind each step type.

``StepRunner`` walks a list of plan steps, asks the conductor what each one decides, and
turns that into activities, timers and conditions. Conditions and decisions cost no history
events; each activity costs its own; search attributes are written once per wait, not once
per step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, assert_never

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract.messages import (
        EnrichRequest,
        EnrichResult,
        IncidentInput,
        IncidentState,
        IncidentStatus,
        TimelineEntry,
        severity_rank,
    )
    from sopflow.contract.names import (
        ACT_ENRICH,
        ESCALATION_CHANNEL,
    )
    from sopflow.contract.plan import (
        ApprovalPlan,
        DecisionPlan,
        DisclosureCheckPlan,
        EndPlan,
        NotifyPlan,
        OpenIncidentPlan,
        ParallelPlan,
        PlanStep,
        PostmortemPlan,
        TaskPlan,
        TriagePlan,
        WaitPlan,
    )
    from workflows.desks import DeskClocks
    from workflows.effects import EffectSteps
    from workflows.links import LinkedIncidents
    from workflows.search_attributes import SearchAttributes
    from workflows.updates import StakeholderUpdates
    from workflows.waits import Waits
    from workflows.wellbeing import Wellbeing


# A later triage never lowers the severity (docs/versioning.md, section 3).
SEVERITY_NEVER_LOWERS = "severity-never-lowers"
# A spent escalation chain with `on_timeout: escalate` pages its last role again every SLA
# (it used to wait silently): more commands, so behind a patch (docs/versioning.md).
REPAGE_SPENT_CHAIN = "repage-spent-chain"


class Finished(Exception):
    """The incident ends here: an end step, a failure, or an SLA chain set to fail."""

    def __init__(
        self, status: IncidentStatus, outcome: str, step: str | None = None, detail: str = ""
    ) -> None:
        super().__init__(f"{status}: {outcome}")
        self.status: IncidentStatus = status
        self.outcome, self.step, self.detail = outcome, step, detail


class StepRunner(EffectSteps, DeskClocks, Wellbeing, LinkedIncidents, Waits, StakeholderUpdates):
    class ContinueAsNew(Exception):
        """The history is long: continue as new at this step boundary."""

    def __init__(
        self,
        inp: IncidentInput,
        steps: dict[str, PlanStep],
        state: IncidentState,
        cancelled: Callable[[], bool],
    ) -> None:
        self.inp, self.plan, self.steps, self.state = inp, inp.plan, steps, state
        self.cancelled = cancelled
        retry = self.plan.defaults.retry
        self.retry = RetryPolicy(
            maximum_attempts=retry.max_attempts,
            initial_interval=timedelta(seconds=retry.initial_interval_s),
            backoff_coefficient=retry.backoff,
            maximum_interval=timedelta(seconds=retry.max_interval_s),
        )
        self.attributes = SearchAttributes(steps, state)
        # Set while the workflow stops the procedure for a handled event: parallel lanes stop
        # too (an incident's cancellation leaves them, as it always has).
        self.jumping = False
        # The step that goes on after a migration, until it has read its carried due time.
        self.resumed: str | None = None
        self.busy = 0  # activities running now: no migration meanwhile

    # --- bookkeeping

    def log(self, actor: str, kind: str, step: str | None = None, detail: str = "") -> None:
        entry = TimelineEntry(at=workflow.now(), actor=actor, kind=kind, step=step, detail=detail)
        self.state.timeline.append(entry)
        # The same event for operators: workflow.logger is silent during replay. Details can
        # hold case data, so they stay on the timeline (in the encrypted history), not the log.
        workflow.logger.info(
            kind,
            extra={"incident": self.state.incident_id, "sop": self.state.sop, "step": step},
        )

    def variables(self) -> dict[str, Any]:
        return conductor.context(self.state, self.inp.input, workflow.now())

    def flush_search_attributes(self, *, final: bool = False) -> None:
        self.attributes.flush(final=final)

    # --- walking lists of steps

    async def run_top(self, resume_at: str | None) -> None:
        await self.run_list(list(self.plan.steps), resume_at, top=True)

    async def run_list(self, steps: list[PlanStep], start: str | None, *, top: bool) -> None:
        position = {s.id: i for i, s in enumerate(steps)}
        current: str | None = start or steps[0].id
        while current is not None:
            if top and self._history_is_long():
                self.state.resume_at = current
                raise StepRunner.ContinueAsNew
            index = position[current]
            following = steps[index + 1].id if index + 1 < len(steps) else None
            current = await self.run_step(steps[index], following)

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= self.inp.continue_as_new_after
            or info.is_continue_as_new_suggested()
        )

    async def run_step(self, step: PlanStep, following: str | None) -> str | None:
        """Run one step; the id of the step to run next in the same list, or None."""
        try:
            return await self._run_step(step, following)
        except conductor.ExpressionFailed as exc:
            # The incident's data did not fit an expression (e.g. a missing optional field):
            # stop loudly rather than guess; the timeline says which step and why.
            self.state.steps[step.id].status = "failed"
            raise Finished("failed", "expression_error", step.id, str(exc)) from exc

    async def _run_step(self, step: PlanStep, following: str | None) -> str | None:
        s = self.state.steps[step.id]
        if step.when is not None and not conductor.holds(step.id, step.when, self.variables()):
            s.status = "skipped"
            self.log("system", "step.skipped", step.id, f"when: {step.when}")
            return following
        if self.state.resume_active and self.state.resume_at == step.id:
            # Moved here from an earlier version while active: it goes on where it was
            # (votes, due time, desk), without starting again.
            self.state.resume_active = False
            self.resumed = step.id
        else:
            s.status, s.starts, s.started_at = "active", s.starts + 1, workflow.now()
            s.output, s.votes, s.submitted_by, s.due_at = None, [], None, None
            s.desk = s.desk_since = s.turn_until = None
        try:
            outcome = await self._execute(step)
        except ActivityError as exc:
            s.status = "failed"
            cause = exc.cause or exc
            raise Finished("failed", f"step_failed:{step.id}", step.id, str(cause)) from exc
        if s.status == "active":
            s.status = "done"
        s.finished_at = workflow.now()
        if s.status == "done":
            self.state.path.append(step.id)
        if conductor.waits_on_someone(step) and self.attributes.keeps_due_times():
            # Off the queues as soon as it is done, not at the next wait (activities may
            # come first): an inbox reads visibility.
            self.flush_search_attributes()
        if isinstance(outcome, Goto):
            return outcome.target
        return conductor.route(step, outcome)

    async def _execute(self, step: PlanStep) -> StepOutcome:
        match step:
            case TriagePlan():
                await self._triage(step)
                return None
            case TaskPlan():
                return await self._task(step)
            case ApprovalPlan():
                return await self._approval(step)
            case DecisionPlan():
                return self._decision(step)
            case DisclosureCheckPlan():
                return await self._disclosure(step)
            case NotifyPlan():
                await self._notify(step)
                return None
            case WaitPlan():
                return await self._wait(step)
            case ParallelPlan():
                await self._parallel(step)
                return None
            case PostmortemPlan():
                await self._postmortem(step)
                return None
            case OpenIncidentPlan():
                return await self._open_incident(step)
            case EndPlan():
                self._end(step)
            case _:
                assert_never(step)

    # --- step types

    def _decision(self, step: DecisionPlan) -> Goto:
        target = conductor.decide(step, self.variables())
        self.state.steps[step.id].output = {"goto": target}
        self.state.steps[step.id].status = "done"
        # A decision's target replaces routing: signal it with a pseudo-outcome.
        return Goto(target)

    def _end(self, step: EndPlan) -> NoReturn:
        self.state.steps[step.id].status = "done"
        self.state.steps[step.id].finished_at = workflow.now()
        self.state.path.append(step.id)
        self.state.outcome = step.outcome
        raise Finished("completed", step.outcome, step.id)

    async def _triage(self, step: TriagePlan) -> None:
        enrichment: dict[str, Any] = {}
        if step.enrich:
            request = EnrichRequest(
                incident_id=self.state.incident_id,
                sop=self.state.sop,
                region=self.state.region,
                names=step.enrich,
                input=self.inp.input,
            )
            result = await self._activity(ACT_ENRICH, request, EnrichResult, data=True)
            enrichment = result.data
        severity, labels, rule = conductor.triage(step, self.variables(), enrichment)
        severity = self._triaged_severity(step.id, severity)
        self.state.severity = severity
        self.state.labels = sorted(dict.fromkeys([*self.state.labels, *labels]))
        out = {"severity": severity, "labels": labels, "enrichment": enrichment}
        self.state.steps[step.id].output = out
        self.log("system", "triage", step.id, f"{severity} (rule {rule})")

    def _triaged_severity(self, step_id: str, found: str) -> str:
        """The severity after a triage: a later triage raises it, never lowers it (lowering
        is a lead's decision, with a reason). Incidents from before the patch lowered it."""
        before = self.state.severity
        if before is None or severity_rank(found) == severity_rank(before):
            return found
        if severity_rank(found) < severity_rank(before):
            self.log("system", "severity.raised", step_id, f"{before} -> {found}: triage")
            return found
        if not workflow.patched(SEVERITY_NEVER_LOWERS):
            return found
        detail = f"triage says {found}; stays {before}: only a lead lowers the severity"
        self.log("system", "severity.kept", step_id, detail)
        return before

    async def _task(self, step: TaskPlan) -> StepOutcome:
        s = self.state.steps[step.id]
        s.role, s.roles = step.assignee, [step.assignee]
        outcome = await self._await_people(step, lambda: s.submitted_by is not None)
        await self.check_in(step, [s.submitted_by] if s.submitted_by else [])
        return outcome

    async def _approval(self, step: ApprovalPlan) -> StepOutcome:
        s = self.state.steps[step.id]
        s.role, s.roles = step.approvers[0], list(step.approvers)
        timed_out = await self._await_people(
            step, lambda: conductor.tally(step, self.state) is not None
        )
        voters = list(dict.fromkeys(v.actor for v in s.votes))
        if timed_out is not None:
            await self.check_in(step, voters)  # those who voted saw the material all the same
            return timed_out
        outcome = conductor.tally(step, self.state)
        s.output = {"outcome": outcome, "votes": [v.model_dump(mode="json") for v in s.votes]}
        self.log("system", f"approval.{outcome}", step.id)
        await self.check_in(step, voters)
        return outcome

    async def _await_people(
        self, step: TaskPlan | ApprovalPlan, done: Callable[[], bool]
    ) -> Goto | None:
        """Wait for ``done`` under the step's SLA. None when done; a Goto when the escalation
        chain is spent and `on_timeout` says where to go."""
        s = self.state.steps[step.id]
        chain = [r for r in step.escalate if r not in s.escalated_to]
        carried = self._carried_due(step.id)
        if step.follow_the_sun and carried is None:
            await self.take_turn(step)
        deadline = carried or await self.first_deadline(step)
        while True:
            s.due_at = deadline
            self.flush_search_attributes()
            if await self.wait_for_people(step, done, deadline):
                return None
            s.breaches += 1
            self.state.sla_breached = True
            if chain:
                role = chain.pop(0)
                s.escalated_to.append(role)
                self.log("system", "sla.breached", step.id, f"escalated to {role}")
                text = _escalation_text(self, step)
                await self._send(step.id, ESCALATION_CHANNEL, role, True, text, desk=s.desk)
                deadline = await self.next_deadline(step, deadline)
                continue
            self.log(
                "system",
                "sla.breached",
                step.id,
                f"escalation chain spent: {step.on_timeout.action}",
            )
            if step.on_timeout.action == "fail":
                s.status = "failed"
                raise Finished("failed", f"sla_spent:{step.id}", step.id, "SLA chain spent")
            if step.on_timeout.action == "goto":
                s.status = "failed"
                return Goto(step.on_timeout.goto)
            if workflow.patched(REPAGE_SPENT_CHAIN):
                await self._repage(step, done, deadline)
                return None
            self.flush_search_attributes()
            await self.wait_for_people(step, done, None)  # keep waiting: the breach is on record
            return None

    async def _repage(
        self, step: TaskPlan | ApprovalPlan, done: Callable[[], bool], deadline: datetime
    ) -> None:
        """A spent escalation chain is never silent: the step is stalled, and the last role
        of the chain (the step's own role without one) is paged again every SLA until
        someone acts."""
        s = self.state.steps[step.id]
        s.stalled = True
        self.flush_search_attributes()  # `Stalled`; the due time stays the one it missed
        role = step.escalate[-1] if step.escalate else _holders(step)[0]
        while True:
            # From now, not from the last deadline: a chain spent late (a worker that was down,
            # a step that waited out of hours) pages once per SLA from here, never a burst.
            deadline = await self.next_deadline(step, max(deadline, workflow.now()))
            if await self.wait_for_people(step, done, deadline):
                s.stalled = False
                return
            s.breaches += 1
            self.log("system", "sla.repaged", step.id, f"still unanswered: paged {role} again")
            text = _escalation_text(self, step)
            await self._send(step.id, ESCALATION_CHANNEL, role, True, text, desk=s.desk)

    async def _parallel(self, step: ParallelPlan) -> None:
        lanes = [
            asyncio.ensure_future(self.run_list(list(branch.steps), None, top=False))
            for branch in step.branches
        ]
        mode = asyncio.FIRST_COMPLETED if step.join == "any" else asyncio.FIRST_EXCEPTION
        try:
            done, pending = await workflow.wait(lanes, return_when=mode)
        except asyncio.CancelledError:
            if self.jumping:
                for lane in lanes:
                    lane.cancel()
                await workflow.wait(lanes)
            raise
        for lane in pending:
            lane.cancel()
        if pending:
            await workflow.wait(pending)
            self._mark_cancelled(step)
        for lane in lanes:
            if lane in done and lane.exception() is not None:
                raise lane.exception()  # type: ignore[misc]

    def _mark_cancelled(self, step: ParallelPlan) -> None:
        for branch in step.branches:
            for inner in branch.steps:
                s = self.state.steps[inner.id]
                if s.status in ("active", "pending"):
                    s.status = "skipped"
                    self.log("system", "step.cancelled", inner.id, f"join {step.join}")


class Goto:
    """Go to ``target`` whatever `on` and `next` say: a decision's branch, an SLA goto."""

    def __init__(self, target: str | None) -> None:
        self.target = target


StepOutcome = str | Goto | None


def _escalation_text(runner: StepRunner, step: TaskPlan | ApprovalPlan) -> str:
    state = runner.state
    return (
        f"Incident {state.incident_id} ({state.sop}@{state.version}, {state.region}): step "
        f"'{step.title}' is overdue and escalated to you."
    )


def _holders(step: TaskPlan | ApprovalPlan) -> list[str]:
    return [step.assignee] if isinstance(step, TaskPlan) else list(step.approvers)
