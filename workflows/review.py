"""The post-mortem review workflow: the follow-up a post-mortem step starts, outliving its
incident (``<incident id>/postmortem``).

It holds the review's owner and due date, its action items and the root cause, reminds
owners before due dates and escalates what is overdue (the notify activity, one idempotency
key per notice, each sent once), and completes when its owner marks it done, which is
refused while any item is open. People act through one signed Update whose validator
refuses with the reason and leaves the history untouched; the rules are in
``workflows.review_rules``.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.review_rules as rules
    import workflows.trust as trust
    from sopflow.contract.messages import ActionResult, NotifyRequest, NotifyResult, TimelineEntry
    from sopflow.contract.names import (
        ACT_NOTIFY,
        ESCALATION_CHANNEL,
        QUERY_STATE,
        UPDATE_REVIEW,
        WORKFLOW_REVIEW,
    )
    from sopflow.contract.reviews import ReviewAction, ReviewInput, ReviewState

# A reminder is worth retrying for a while, not forever: a channel down for an hour loses
# nothing (the notice is on the review's timeline either way), and the review goes on.
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
)


@workflow.defn(name=WORKFLOW_REVIEW)
class PostmortemReviewWorkflow:
    """One incident's post-mortem review, from the step that opened it until it is done."""

    @workflow.init
    def __init__(self, inp: ReviewInput) -> None:
        self.inp = inp
        self.state = rules.opening_state(inp, workflow.now())
        self.changes = 0  # bumped by every accepted action: the run loop looks again

    @workflow.run
    async def run(self, inp: ReviewInput) -> ReviewState:
        self._log("system", "review.opened", f"owner {inp.owner}, draft {inp.document}")
        while self.state.status == "open":
            owed = rules.notices(self.state, self.inp)
            now = workflow.now()
            due = [n for n in owed if n.at <= now]
            for notice in due:
                await self._send(notice)
            if not due:
                await self._until_changed_or(owed[0] if owed else None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    async def _until_changed_or(self, notice: rules.Notice | None) -> None:
        """Wait for an accepted action, or until ``notice`` is due (a durable timer)."""
        seen = self.changes
        timeout = notice.at - workflow.now() if notice is not None else None
        with contextlib.suppress(TimeoutError):  # a notice is due: the loop sends it
            await workflow.wait_condition(lambda: self.changes != seen, timeout=timeout)

    def _log(self, actor: str, kind: str, detail: str) -> None:
        entry = TimelineEntry(at=workflow.now(), actor=actor, kind=kind, detail=detail)
        self.state.timeline.append(entry)

    async def _send(self, notice: rules.Notice) -> None:
        request = NotifyRequest(
            incident_id=self.state.review_id,
            step=self.inp.step,
            channel=ESCALATION_CHANNEL,  # always configured (a log channel at least)
            to=notice.to,
            to_is_role=notice.is_role,
            region=self.inp.region,
            message=notice.text,
            idempotency_key=f"{self.state.review_id}/{notice.key}",
        )
        try:
            await workflow.execute_activity(
                ACT_NOTIFY,
                request,
                result_type=NotifyResult,
                task_queue=self.inp.data_task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NOTICE_RETRY,
            )
            kind = "review.escalated" if notice.escalation else "review.reminded"
            self._log("system", kind, f"{notice.key} to {notice.to}")
        except ActivityError as exc:
            self._log("system", "review.notice_failed", f"{notice.key} to {notice.to}: {exc}")
        self.state.sent.append(notice.key)

    @workflow.query(name=QUERY_STATE)
    def get_state(self) -> ReviewState:
        """The whole review as it stands."""
        return self.state

    @workflow.update(name=UPDATE_REVIEW)
    def act(self, req: ReviewAction) -> ActionResult:
        """Apply one accepted action (the validator has checked it)."""
        trust.remember(self.state.recent_requests, req)
        detail = rules.apply(self.state, req, workflow.now())
        self.changes += 1
        return ActionResult(step=req.item, detail=detail)

    @act.validator
    def _validate(self, req: ReviewAction) -> None:
        trust.require_verified()
        trust.require_fresh(self.state.recent_requests, req)
        try:
            rules.check(self.state, self.inp, req, workflow.now())
        except rules.Refused as exc:
            raise trust.refusal(str(exc), exc.cause) from None
