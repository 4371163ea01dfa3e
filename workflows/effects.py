"""The steps that act on the world: disclosure checks, notifications and post-mortems, each
one activity (on the incident's data task queue, with the SOP's retry policy).

``StepRunner`` inherits them; they read the incident through the attributes declared here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    import workflows.review_start as review_start
    from sopflow.contract.messages import (
        DisclosureRequest,
        DisclosureResult,
        IncidentInput,
        IncidentState,
        NotifyRequest,
        NotifyResult,
        PostmortemRequest,
        PostmortemResult,
    )
    from sopflow.contract.names import ACT_DISCLOSURE, ACT_NOTIFY, ACT_POSTMORTEM
    from sopflow.contract.plan import (
        DestinationPlan,
        DisclosureCheckPlan,
        NotifyPlan,
        Plan,
        PostmortemPlan,
    )
    from workflows.parts import RunnerPart


class EffectSteps(RunnerPart):
    """Steps whose work is an activity. The runner provides the incident (``inp``, ``plan``,
    ``state``), the retry policy, ``log`` and ``variables``."""

    inp: IncidentInput
    plan: Plan
    state: IncidentState
    retry: RetryPolicy
    busy: int  # activities running now

    async def _disclosure(self, step: DisclosureCheckPlan) -> str:
        variables = self.variables()
        facts = {
            name: conductor.check(step.id, expr, variables) for name, expr in step.request.items()
        }
        s = self.state.steps[step.id]
        request = DisclosureRequest(
            incident_id=self.state.incident_id,
            step=step.id,
            sop=self.state.sop,
            version=self.state.version,
            region=self.state.region,
            policy=self.plan.policies[step.policy],
            facts=plain(facts),
            idempotency_key=f"{self.state.incident_id}/{step.id}/{s.starts}",
        )
        result: DisclosureResult = await self._activity(
            ACT_DISCLOSURE, request, DisclosureResult, data=True
        )
        s.output = result.model_dump(mode="json")
        basis = result.legal_basis or result.reason or ""
        self.log("system", f"disclosure.{result.decision}", step.id, f"{result.policy}: {basis}")
        return result.decision

    async def _notify(self, step: NotifyPlan) -> None:
        variables = self.variables()
        message = conductor.render(step.id, step.message, variables)
        if step.destination is not None:
            # Addressed by the plan: no expression to evaluate, the address goes as it is.
            to, is_role = step.destination.address, False
        elif step.to_role is not None:
            to, is_role = step.to_role, True
        else:
            to, is_role = str(conductor.check(step.id, step.to_expr or "", variables)), False
        result = await self._send(
            step.id, step.channel, to, is_role, message, destination=step.destination
        )
        self.state.steps[step.id].output = {
            "channel": result.channel,
            "delivered": result.delivered,
        }

    async def _send(
        self,
        step_id: str,
        channel: str,
        to: str,
        is_role: bool,
        message: str,
        *,
        desk: str | None = None,
        purpose: str = "",
        destination: DestinationPlan | None = None,
    ) -> NotifyResult:
        """Send one message; a role is resolved at ``desk`` (default: the incident's region),
        to the person on call there when the Rota says who. ``purpose`` tells apart two
        messages of one step on one channel (its idempotency key). A ``destination`` goes
        with the request, so the channel delivers to its address."""
        s = self.state.steps[step_id]
        key = f"{self.state.incident_id}/{step_id}/{s.starts}/{channel}/{s.breaches}"
        key += f"/{purpose}" if purpose else ""
        request = self._notify_request(
            step_id, key, channel, to, is_role, message, desk, destination
        )
        return await self._deliver(request, step_id)

    def _notify_request(
        self,
        step: str,
        key: str,
        channel: str,
        to: str,
        is_role: bool,
        message: str,
        desk: str | None,
        destination: DestinationPlan | None = None,
    ) -> NotifyRequest:
        """The request for one message of this incident, its role resolved at ``desk``
        (default: the incident's region); ``key`` makes each delivered at most once, and a
        ``destination`` goes with it so the channel delivers to its address."""
        return NotifyRequest(
            incident_id=self.state.incident_id,
            step=step,
            channel=channel,
            to=to,
            to_is_role=is_role,
            region=desk or self.state.region,
            message=message,
            idempotency_key=key,
            destination=destination,
        )

    async def _deliver(
        self, request: NotifyRequest, log_step: str | None, note: str = ""
    ) -> NotifyResult:
        """Send ``request`` and put it on the timeline under ``log_step``."""
        result: NotifyResult = await self._activity(ACT_NOTIFY, request, NotifyResult, data=True)
        # A destination is named on the timeline by its name: the plan holds its address.
        whom = request.destination.name if request.destination is not None else request.to
        self.log("system", "notified", log_step, f"{request.channel} to {whom}{note}")
        return result

    async def _postmortem(self, step: PostmortemPlan) -> None:
        request = PostmortemRequest(
            incident_id=self.state.incident_id,
            sop=self.state.sop,
            version=self.state.version,
            region=self.state.region,
            title=self.plan.sop.title,
            severity=self.state.severity,
            outcome=self.state.outcome,
            owner=step.owner,
            due_at=workflow.now() + timedelta(seconds=step.due_s),
            template=step.template,
            timeline=list(self.state.timeline),
            steps=list(self.state.steps.values()),
        )
        result = await self._activity(ACT_POSTMORTEM, request, PostmortemResult, data=True)
        self.state.steps[step.id].output = result.model_dump(mode="json")
        self.log("system", "postmortem.opened", step.id, result.document)
        if workflow.patched(review_start.REVIEW_PATCH):
            await self._open_review(step, result.document)

    async def _open_review(self, step: PostmortemPlan, document: str) -> None:
        """Start the tracked review that follows the draft up (docs/postmortems.md)."""
        review = review_start.review_input(self.inp, self.plan, self.state, step, document)
        started = await review_start.start_review(review)
        output = self.state.steps[step.id].output
        self.state.steps[step.id].output = {**output, "review": review.review_id}
        detail = f"{review.review_id}: owner {review.owner}, due {review.due_at.isoformat()}"
        if not started:
            detail = f"{review.review_id} is still open: it goes on"
        self.log("system", "postmortem.review", step.id, detail)

    async def _activity(
        self, name: str, request: Any, result_type: type[Any], *, data: bool
    ) -> Any:
        queue = self.inp.data_task_queue if data else None
        self.busy += 1  # no migration while an activity runs
        try:
            return await workflow.execute_activity(
                name,
                request,
                result_type=result_type,
                task_queue=queue,
                # Short: a worker that dies mid-activity delays the retry by this much.
                # Channels time out in 10 s; the retry policy (the SOP's) covers longer outages.
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=self.retry,
            )
        finally:
            self.busy -= 1


def plain(value: Any) -> Any:
    """CEL results as JSON data (timestamps become ISO text)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
