"""Wellbeing: steps marked graphic count in the exposure of whoever does them, and may ask
the person on call for a role to check in with them afterwards.

``StepRunner`` inherits these; it provides the incident, ``log`` and ``_send``.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sopflow.contract.messages import Exposure, IncidentState, NotifyResult
    from sopflow.contract.plan import ApprovalPlan, PlanStep, TaskPlan
    from workflows.parts import RunnerPart


class Wellbeing(RunnerPart):
    """Exposure records and check-ins for steps marked ``graphic``."""

    state: IncidentState

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
    ) -> NotifyResult:
        raise NotImplementedError

    def exposed(self, person: str, step: PlanStep) -> None:
        """``person`` just did ``step`` (completed it, or voted on it): if it is marked
        graphic, that counts in their exposure. Called from the update handlers."""
        if not isinstance(step, TaskPlan | ApprovalPlan) or not step.graphic:
            return
        self.state.exposures.append(Exposure(person=person, step=step.id, at=workflow.now()))
        self.log(person, "exposure", step.id, "graphic content")

    async def check_in(self, step: TaskPlan | ApprovalPlan, people: list[str]) -> None:
        """After a graphic step, ask the person on call for ``check_in.to`` (at the desk that
        held it) to check in with ``people``."""
        if step.check_in is None or not people:
            return
        s = self.state.steps[step.id]
        text = (
            f"{', '.join(people)} just did graphic-content work on incident "
            f"{self.state.incident_id} ({self.state.sop}, step '{step.title}'). Please check in "
            "with them now: a break, a debrief, or the support the team offers."
        )
        channel, role = step.check_in.channel, step.check_in.to
        await self._send(step.id, channel, role, True, text, desk=s.desk, purpose="check-in")
        detail = f"{role} asked to check in with {', '.join(people)}"
        self.log("system", "wellbeing.check_in", step.id, detail)
