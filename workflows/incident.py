"""The incident workflow: one durable interpreter for every compiled plan.

Registered as a dynamic workflow, so each SOP shows in the Temporal UI under its own workflow
type (the SOP id); the plan arrives in the input and is the only procedure it reads. What to
do next is decided by ``workflows.conductor``; this module only turns those decisions into
Temporal commands (activities, timers, conditions) and handles responder actions as Updates
whose validators refuse bad actions before anything reaches the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    # `import a.b as b`, not `from a import b`: only the former passes the module through the
    # sandbox; the latter re-executed the conductor for every workflow run.
    import workflows.conductor as conductor
    import workflows.migrating as migrating
    import workflows.notes as notes
    import workflows.trust as trust
    from sopflow.contract.messages import (
        ActionResult,
        Actor,
        Cancel,
        CompleteTask,
        ExternalEvent,
        IncidentState,
        LinkNotice,
        Migrate,
        Note,
        PostUpdate,
        StepState,
        Vote,
        VoteRecord,
    )
    from sopflow.contract.names import (
        LEAD_ROLE,
        QUERY_STATE,
        SIGNAL_EVENT,
        SIGNAL_LINK,
        UPDATE_CANCEL,
        UPDATE_COMPLETE,
        UPDATE_MIGRATE,
        UPDATE_NOTE,
        UPDATE_POST,
        UPDATE_VOTE,
    )
    from sopflow.contract.plan import ApprovalPlan, PlanStep, TaskPlan, WaitPlan
    from workflows.plan_input import decode_input
    from workflows.runner import Finished, StepRunner


def _refuse(exc: conductor.ActionRefused) -> ApplicationError:
    return trust.refusal(str(exc), exc.cause)


# Runs are pinned to the build they started on by the worker's deployment settings
# (worker.py: default_versioning_behavior=PINNED when Worker Versioning is on); naming the
# behaviour here would make a worker without versioning fail every workflow task.
@workflow.defn(dynamic=True)
class IncidentWorkflow:
    """Runs one incident from its plan; the workflow type is the SOP id."""

    @workflow.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        self.inp = decode_input(workflow.payload_converter(), args[0].payload)
        self.plan = self.inp.plan
        self.steps: dict[str, PlanStep] = self.plan.steps_by_id()
        self.state = self.inp.carried or IncidentState(
            incident_id=self.inp.incident_id,
            sop=self.plan.sop.id,
            version=self.plan.sop.version,
            region=self.plan.region.code,
            plan_hash=self.plan.plan_hash,
            opened_by=self.inp.opened_by,
            opened_at=workflow.now(),
            steps={sid: StepState(id=sid, type=s.type) for sid, s in self.steps.items()},
        )
        self.cancel_request: Cancel | None = None
        self.migration: Migrate | None = None  # accepted, not yet carried out
        # A handled event not yet acted on: the step to go on from, and the event's name.
        self.jump: tuple[str, str] | None = None
        self.runner = StepRunner(self.inp, self.steps, self.state, self._is_cancelled)

    def _is_cancelled(self) -> bool:
        return self.cancel_request is not None

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> IncidentState:
        if self.inp.carried is None:
            self._opened()
        first: asyncio.Future[None] = asyncio.ensure_future(
            self.runner.run_top(self.state.resume_at)
        )
        cancelled = asyncio.ensure_future(workflow.wait_condition(self._is_cancelled))
        updates = self.runner.start_updates()  # None unless the plan declares `updates`
        main = await self._run_handling_events(first, cancelled)
        await self.runner.stop_updates(updates)
        if self.migration is not None and main.cancelled() and not self._is_cancelled():
            await self._migrate(self.migration)
        if not main.done():
            main.cancel()
            await workflow.wait([main])
        cancelled.cancel()
        try:
            self._finish(main)
        except StepRunner.ContinueAsNew:
            await workflow.wait_condition(workflow.all_handlers_finished)
            self.state.runs += 1
            carried = self.inp.model_copy(update={"carried": self.state})
            workflow.continue_as_new(carried)
        self.runner.flush_search_attributes(final=True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    def _opened(self) -> None:
        """The first entries of the timeline: who opened the incident, and its links."""
        self.runner.log("system", "incident.opened", detail=f"by {self.inp.opened_by}")
        for other in self.inp.links:
            self.state.links.append(other)
            self.runner.log(self.inp.opened_by, "incident.linked", detail=f"duplicate of {other}")
        if self.inp.parent is not None:
            self.state.links.append(self.inp.parent)
            detail = f"opened by {self.inp.parent} (step {self.inp.parent_step})"
            self.runner.log("system", "incident.linked", detail=detail)

    async def _run_handling_events(
        self, main: asyncio.Future[None], cancelled: asyncio.Future[None]
    ) -> asyncio.Future[None]:
        """Wait for the procedure to end or the incident to be cancelled. An SOP with
        `on_event` handlers also waits for a handled event: the active steps stop and the
        procedure goes on from the handler's step (plans without handlers wait as before)."""
        while True:
            # A migration (`sopflow migrate`) stops the procedure too: run() moves on.
            turn = self._has_jump if self.plan.on_event else self._is_migrating
            handled = asyncio.ensure_future(workflow.wait_condition(turn))
            waits = [main, cancelled, handled]
            await workflow.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if main.done() or self._is_cancelled():
                handled.cancel()
                return main
            if self.migration is not None:
                handled.cancel()
                await self._stop(main)
                return main
            if self.jump is None:
                handled.cancel()
                return main
            target, name = self.jump
            self.jump = None
            await self._stop(main)
            self._interrupt(target, name)
            main = asyncio.ensure_future(self.runner.run_top(target))

    async def _stop(self, main: asyncio.Future[None]) -> None:
        """Stop the procedure where it waits (parallel lanes too)."""
        self.runner.jumping = True
        main.cancel()
        await workflow.wait([main])
        self.runner.jumping = False

    def _has_jump(self) -> bool:
        return self.jump is not None or self.migration is not None

    def _is_migrating(self) -> bool:
        return self.migration is not None

    async def _migrate(self, req: Migrate) -> NoReturn:
        """Continue as new on the later plan, carrying the incident's record over."""
        before = f"{self.state.sop}@{self.state.version} (plan {self.state.plan_hash[:12]})"
        plan = req.plan
        after = f"{plan.sop.id}@{plan.sop.version} (plan {plan.plan_hash[:12]})"
        detail = f"{before} -> {after}: {req.reason}"
        self.runner.log(req.actor.id, "incident.migrated", detail=detail)
        await workflow.wait_condition(workflow.all_handlers_finished)
        migrating.continue_on_later_plan(self.inp, self.state, req)

    def _interrupt(self, target: str, event: str) -> None:
        """The steps a handled event stopped: skipped, each on the timeline."""
        for step in self.state.steps.values():
            if step.status == "active":
                step.status = "skipped"
                detail = f"event {event}: going on from {target}"
                self.runner.log("system", "step.interrupted", step.id, detail)

    def _finish(self, main: asyncio.Future[None]) -> None:
        state = self.state
        if self.cancel_request is not None:
            state.status, state.outcome = "cancelled", "cancelled"
            req = self.cancel_request
            self.runner.log(req.actor.id, "incident.cancelled", detail=req.reason)
            self._close_open_steps()
            self.runner.log("system", "incident.closed", detail="cancelled: cancelled")
            return
        error = main.exception()
        if error is None:
            state.status, state.outcome = "completed", state.outcome or "completed"
        elif isinstance(error, Finished):
            state.status, state.outcome = error.status, error.outcome
            if error.detail:
                self.runner.log("system", f"incident.{error.status}", error.step, error.detail)
        else:
            # StepRunner.ContinueAsNew goes up to run(); anything else is a bug: fail the
            # workflow task, keep the history, retry on a fix.
            raise error
        self._close_open_steps()
        self.runner.log("system", "incident.closed", detail=f"{state.status}: {state.outcome}")

    def _close_open_steps(self) -> None:
        """Nothing stays active on a closed incident: queues (PendingRoles) must not list it."""
        for step in self.state.steps.values():
            if step.status == "active":
                step.status = "skipped"
                self.runner.log("system", "step.cancelled", step.id, self.state.status)

    # --- Queries and signals

    @workflow.query(name=QUERY_STATE)
    def get_state(self) -> IncidentState:
        """The incident as it stands. A step that follows the sun shows as pending (with
        ``routing``) until the Rota has said which desk holds it: it takes no action before."""
        opening = {
            sid: s.model_copy(update={"status": "pending"})
            for sid, s in self.state.steps.items()
            if s.routing and s.status == "active" and s.turn_until is None
        }
        if not opening:
            return self.state
        return self.state.model_copy(update={"steps": {**self.state.steps, **opening}})

    @workflow.signal(name=SIGNAL_EVENT)
    def on_event(self, event: ExternalEvent) -> None:
        self.state.pending_events.append(event)
        self.runner.log(event.sent_by or "external", "event.received", detail=event.name)
        target = (self.plan.on_event or {}).get(event.name)
        if target is not None and self.jump is None and not self._waited_for(event.name):
            self.jump = (target, event.name)

    def _waited_for(self, name: str) -> bool:
        """Whether an active `wait` step takes this event itself (the handler then stays
        out of its way)."""
        return any(
            isinstance(step := self.steps[sid], WaitPlan) and step.event == name
            for sid, s in self.state.steps.items()
            if s.status == "active"
        )

    @workflow.signal(name=SIGNAL_LINK)
    def on_link(self, notice: LinkNotice) -> None:
        if notice.incident not in self.state.links:
            self.state.links.append(notice.incident)
        detail = f"{notice.relation} opened: {notice.incident}"
        self.runner.log(notice.by, "incident.linked", detail=detail)

    # --- Responder actions: validators refuse before anything is written to the history

    @workflow.update(name=UPDATE_COMPLETE)
    def complete_task(self, req: CompleteTask) -> ActionResult:
        trust.remember(self.state.recent_requests, req)
        step = self.state.steps[req.step]
        step.output, step.submitted_by = dict(req.data), req.actor.id
        self.runner.log(req.actor.id, "task.completed", req.step)
        self.runner.exposed(req.actor.id, self.steps[req.step])
        return ActionResult(step=req.step, detail="completed")

    @complete_task.validator
    def _validate_complete(self, req: CompleteTask) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        step = self.steps.get(req.step)
        try:
            if not isinstance(step, TaskPlan):
                raise conductor.ActionRefused(f"this incident has no task {req.step!r}")
            here = conductor.check_desk(
                self.state, req.actor, [step.assignee], self.plan.global_roles, req.step
            )
            conductor.check_completion(self.state, step, here, req.data)
        except conductor.ActionRefused as exc:
            raise _refuse(exc) from None

    @workflow.update(name=UPDATE_VOTE)
    def vote(self, req: Vote) -> ActionResult:
        trust.remember(self.state.recent_requests, req)
        step = self.steps[req.step]
        needs_roles = isinstance(step, ApprovalPlan) and step.requires is not None
        record = VoteRecord(
            actor=req.actor.id,
            decision=req.decision,
            reason=req.reason,
            at=workflow.now(),
            roles=list(self._on_desk(req).roles) if needs_roles else None,
        )
        self.state.steps[req.step].votes.append(record)
        self.runner.log(req.actor.id, f"vote.{req.decision}", req.step, req.reason)
        self.runner.exposed(req.actor.id, step)
        return ActionResult(step=req.step, detail=req.decision)

    def _on_desk(self, req: Vote) -> Actor:
        """The voter with the roles they may use on this step's desk (as validated)."""
        return conductor.on_desk(self.state, req.actor, req.step, self.plan.global_roles)

    @vote.validator
    def _validate_vote(self, req: Vote) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        step = self.steps.get(req.step)
        try:
            if not isinstance(step, ApprovalPlan):
                raise conductor.ActionRefused(f"this incident has no approval {req.step!r}")
            here = conductor.check_desk(
                self.state, req.actor, step.approvers, self.plan.global_roles, req.step
            )
            conductor.check_vote(self.state, step, here, req.decision)
        except conductor.ActionRefused as exc:
            raise _refuse(exc) from None

    @workflow.update(name=UPDATE_NOTE)
    def add_note(self, req: Note) -> ActionResult:
        trust.remember(self.state.recent_requests, req)
        return notes.apply_note(self.runner, req)

    @add_note.validator
    def _validate_note(self, req: Note) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        try:
            notes.check_note(self.runner, self.plan, self.steps, req)
        except conductor.ActionRefused as exc:
            raise _refuse(exc) from None

    @workflow.update(name=UPDATE_MIGRATE)
    def migrate(self, req: Migrate) -> ActionResult:
        trust.remember(self.state.recent_requests, req)
        self.migration = req
        return ActionResult(detail=f"moving to {req.plan.sop.id}@{req.plan.sop.version}")

    @migrate.validator
    def _validate_migrate(self, req: Migrate) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        try:
            here = conductor.check_desk(self.state, req.actor, [LEAD_ROLE], self.plan.global_roles)
            closing = self.migration is not None or self.cancel_request is not None
            migrating.check_migration(
                self.state, self.plan, req, here, busy=self.runner.busy > 0, closing=closing
            )
        except conductor.ActionRefused as exc:
            raise _refuse(exc) from None

    @workflow.update(name=UPDATE_POST)
    async def post_update(self, req: PostUpdate) -> ActionResult:
        trust.remember(self.state.recent_requests, req)
        return await self.runner.post_update(req)

    @post_update.validator
    def _validate_post_update(self, req: PostUpdate) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        try:
            self.runner.check_update(req)
        except conductor.ActionRefused as exc:
            raise _refuse(exc) from None

    @workflow.update(name=UPDATE_CANCEL)
    def cancel_incident(self, req: Cancel) -> ActionResult:
        trust.remember(self.state.recent_requests, req)
        self.cancel_request = req
        return ActionResult(detail="cancelling")

    @cancel_incident.validator
    def _validate_cancel(self, req: Cancel) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        try:
            here = conductor.check_desk(self.state, req.actor, [LEAD_ROLE], self.plan.global_roles)
            conductor.check_cancel(self.state, here)
        except conductor.ActionRefused as exc:
            raise _refuse(exc) from None
