"""Hand-written Temporal workflows: what a developer would write without sopflow.

They are the baselines of the execution benchmarks. They use the same payload models
(``sopflow.contract``), the same data converter, the same activity names and options
(start-to-close 2 minutes, the plan's default retry policy) and the same worker as sopflow's
interpreter, so a difference measures the interpreter, nothing else.

- ``HandIncident``: the procedure of ``sops.AUTOMATED`` coded directly.
- ``HandStep``: one Temporal primitive per run (nothing, an activity, two concurrent
  activities, a timer, an update under an SLA timer, a signal under a timeout), to count the
  history events a step type costs when written by hand.
- ``BareUpdate``: a workflow that only answers an update, for the latency baseline.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from bench.hand_models import (
        HandIncidentInput,
        HandIncidentResult,
        HandStepInput,
    )
    from sopflow.contract import search
    from sopflow.contract.messages import (
        ActionResult,
        CompleteTask,
        DisclosureRequest,
        DisclosureResult,
        EnrichRequest,
        EnrichResult,
        ExternalEvent,
        NotifyRequest,
        NotifyResult,
    )
    from sopflow.contract.names import (
        ACT_DISCLOSURE,
        ACT_ENRICH,
        ACT_NOTIFY,
        SIGNAL_EVENT,
        UPDATE_COMPLETE,
    )

UPDATE_PING = "ping"
# The plan's default retry policy (sopflow.contract.plan Defaults: 5 attempts, 1 s, x2, 300 s).
RETRY = RetryPolicy(
    maximum_attempts=5,
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=300),
)
TIMEOUT = timedelta(minutes=2)


async def _call(name: str, request: Any, result_type: type[Any]) -> Any:
    return await workflow.execute_activity(
        name,
        request,
        result_type=result_type,
        start_to_close_timeout=TIMEOUT,
        retry_policy=RETRY,
    )


@workflow.defn(name="hand-incident")
class HandIncident:
    """Enrich, triage, decide, notify five roles, check disclosure, end: as coded by hand."""

    @workflow.run
    async def run(self, inp: HandIncidentInput) -> HandIncidentResult:
        incident, region, sop = inp.incident_id, "US", "bench-auto"
        await _call(
            ACT_ENRICH,
            EnrichRequest(
                incident_id=incident,
                sop=sop,
                region=region,
                names=["account_history"],
                input=inp.input,
            ),
            EnrichResult,
        )
        urgent = bool(inp.input.get("urgent"))
        severity = "SEV1" if urgent else "SEV3"
        if severity == "SEV1":
            summary = inp.input.get("summary", "")
            message = f"Incident {incident} is {severity}: {summary}"
            for step, channel, role in inp.notifications:
                request = NotifyRequest(
                    incident_id=incident,
                    step=step,
                    channel=channel,
                    to=role,
                    to_is_role=True,
                    region=region,
                    message=message,
                    idempotency_key=f"{incident}/{step}/1/{channel}/0",
                )
                await _call(ACT_NOTIFY, request, NotifyResult)
        check = DisclosureRequest(
            incident_id=incident,
            step="check",
            sop=sop,
            version=1,
            region=region,
            policy=inp.policy,
            facts={"emergency": urgent},
            idempotency_key=f"{incident}/check/1",
        )
        result: DisclosureResult = await _call(ACT_DISCLOSURE, check, DisclosureResult)
        outcome = "declined" if result.decision == "denied" else "resolved"
        return HandIncidentResult(
            incident_id=incident, severity=severity, outcome=outcome, disclosure=result.decision
        )


@workflow.defn(name="hand-step")
class HandStep:
    """One Temporal primitive, as a hand-written step would use it."""

    @workflow.init
    def __init__(self, inp: HandStepInput) -> None:
        self.done = False

    @workflow.run
    async def run(self, inp: HandStepInput) -> str:
        kind = inp.kind
        if inp.publish and kind in ("timer", "update", "signal"):
            workflow.upsert_search_attributes([search.ACTIVE_STEPS.value_set(["x"])])
        if kind == "activity":
            await self._activity(inp, "x")
        elif kind == "parallel2":
            await asyncio.gather(self._activity(inp, "a"), self._activity(inp, "b"))
        elif kind == "timer":
            await workflow.sleep(timedelta(hours=1))
        elif kind in ("update", "signal"):
            try:
                await workflow.wait_condition(
                    lambda: self.done, timeout=timedelta(seconds=inp.sla_s)
                )
            except TimeoutError:
                return "timeout"
            await workflow.wait_condition(workflow.all_handlers_finished)
        if inp.publish and kind == "none":
            workflow.upsert_search_attributes([search.OUTCOME.value_set("resolved")])
        return "done"

    async def _activity(self, inp: HandStepInput, step: str) -> None:
        """A notification: every activity costs the same events whatever it does."""
        incident = inp.incident_id
        request = NotifyRequest(
            incident_id=incident,
            step=step,
            channel="log",
            to="lead",
            to_is_role=True,
            region="US",
            message=f"Incident {incident}",
            idempotency_key=f"{incident}/{step}/1/log/0",
        )
        await _call(ACT_NOTIFY, request, NotifyResult)

    @workflow.update(name=UPDATE_COMPLETE)
    def complete(self, req: CompleteTask) -> ActionResult:
        self.done = True
        return ActionResult(step=req.step, detail="completed")

    @workflow.signal(name=SIGNAL_EVENT)
    def on_event(self, event: ExternalEvent) -> None:
        self.done = True


@workflow.defn(name="bare-update")
class BareUpdate:
    """Answers ``ping`` updates until cancelled: the least a workflow does for an update."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update(name=UPDATE_PING)
    def ping(self, req: CompleteTask) -> ActionResult:
        return ActionResult(step=req.step, detail="pong")
