"""The `wait` step: a durable pause for a time, until an instant, or for an external event
(with an optional timeout). A wait moved from an earlier version by a migration keeps its
due time.

``StepRunner`` inherits these; it provides the incident, ``log``, ``variables`` and
``flush_search_attributes``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract.messages import IncidentState
    from sopflow.contract.plan import WaitPlan
    from workflows.parts import RunnerPart


class Waits(RunnerPart):
    """The `wait` step."""

    state: IncidentState
    # The step that goes on after a migration, until it has read its carried due time.
    resumed: str | None

    async def _wait(self, step: WaitPlan) -> str | None:
        s = self.state.steps[step.id]
        self.flush_search_attributes()
        carried = self._carried_due(step.id)
        if step.for_s is not None or step.until is not None:
            seconds = step.for_s if step.for_s is not None else self._until_seconds(step)
            if carried is not None:
                seconds = max((carried - workflow.now()).total_seconds(), 0.0)
            s.due_at = workflow.now() + timedelta(seconds=seconds)
            if seconds > 0:
                await workflow.sleep(timedelta(seconds=seconds))
            s.output = {"elapsed": True}
            return None
        name = step.event or ""
        received = lambda: any(e.name == name for e in self.state.pending_events)  # noqa: E731
        if step.timeout_s is None:
            await workflow.wait_condition(received)
        else:
            s.due_at = carried or workflow.now() + timedelta(seconds=step.timeout_s)
            left = max(s.due_at - workflow.now(), timedelta())
            try:
                await workflow.wait_condition(received, timeout=left)
            except TimeoutError:
                s.output = {"timed_out": True}
                self.log("system", "wait.timeout", step.id, name)
                return "timeout"
        event = next(e for e in self.state.pending_events if e.name == name)
        self.state.pending_events.remove(event)
        s.output = dict(event.data)
        return "received"

    def _carried_due(self, step_id: str) -> datetime | None:
        """The due time a step moved from an earlier version keeps (once, as it goes on)."""
        if self.resumed != step_id:
            return None
        self.resumed = None
        return self.state.steps[step_id].due_at

    def _until_seconds(self, step: WaitPlan) -> float:
        value = conductor.check(step.id, step.until or "", self.variables())
        if not isinstance(value, datetime):
            raise conductor.ExpressionFailed(
                step.id, step.until or "", TypeError("not a timestamp")
            )
        return max((value - workflow.now()).total_seconds(), 0.0)
