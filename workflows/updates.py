"""Stakeholder updates: while the incident runs at a severity whose plan declares a cadence
(``Plan.updates``), the lead is asked for an update every ``every``; the text they post goes
to the cadence's destination, and one not posted within the grace is missed and escalated.

The cadence follows the current severity: a raised or lowered severity takes its own cadence
from the same clock (the last ask, or when the incident first reached a severity with a
cadence). The clock runs in its own coroutine beside the procedure, which the workflow stops
when the incident closes. Its commands are new, so the coroutine starts only for plans that
declare updates, and only behind a patch (docs/versioning.md): a plan without `updates`
issues no new command, and existing histories replay unchanged.

A cadence that follows the sun asks the Rota, at each ask, which desk has the asked role on
call (the activity follow-the-sun steps use): that desk is asked, posts the update, and is
paged when it is missed. The Rota's answer is a new command, behind its own patch, asked
only for such a cadence.

``StepRunner`` inherits this; it provides the incident, ``log``, ``variables``,
``_activity``, ``_ask_rota`` and the notification helpers of ``EffectSteps``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.conductor as conductor
    from sopflow.contract.desks import DeskTurn, DeskTurnRequest
    from sopflow.contract.messages import (
        ActionResult,
        IncidentInput,
        NotifyRequest,
        NotifyResult,
        PostUpdate,
        StakeholderUpdate,
        UpdatesState,
    )
    from sopflow.contract.names import ACT_DESK_TURN, ESCALATION_CHANNEL
    from sopflow.contract.plan import DestinationPlan, Plan, UpdateCadencePlan
    from sopflow.contract.updates import (
        DEFAULT_UPDATE_TEMPLATE,
        MAX_UPDATE_CHARS,
        UPDATE_DUE,
        UPDATE_MISSED,
        UPDATE_POSTED,
        UPDATE_VARIABLE,
        escalation_role,
    )
    from workflows.parts import RunnerPart

# The patch that brought stakeholder updates (docs/versioning.md). Asked only for plans that
# declare `updates`, so no other incident's history gains its marker.
UPDATE_CADENCE_PATCH = "stakeholder-update-cadence"
# The patch that lets asks follow the sun: checked only for a cadence with `follow_the_sun`,
# so only its incidents' histories gain the marker (and the Rota's answer).
UPDATES_FOLLOW_THE_SUN_PATCH = "update-asks-follow-the-sun"
# The step name that notifications of stakeholder updates carry (they belong to no step).
UPDATES_STEP = "updates"


class StakeholderUpdates(RunnerPart):
    """The update clock of an incident, and the `post_update` action's checks and effects."""

    inp: IncidentInput
    plan: Plan

    async def _activity(
        self, name: str, request: Any, result_type: type[Any], *, data: bool
    ) -> Any:
        raise NotImplementedError

    async def _ask_rota(self, name: str, request: Any, result_type: type[Any]) -> Any:
        raise NotImplementedError

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
        raise NotImplementedError

    async def _deliver(
        self, request: NotifyRequest, log_step: str | None, note: str = ""
    ) -> NotifyResult:
        raise NotImplementedError

    # --- the clock

    def start_updates(self) -> asyncio.Future[None] | None:
        """Start the update clock when the plan declares a cadence; None otherwise (and then
        nothing at all is recorded, not even the patch marker)."""
        if not self.plan.updates or not workflow.patched(UPDATE_CADENCE_PATCH):
            return None
        if self.state.updates is None:
            self.state.updates = UpdatesState()
        return asyncio.ensure_future(self._update_clock())

    @staticmethod
    async def stop_updates(clock: asyncio.Future[None] | None) -> None:
        """Stop the clock (the incident closes, or continues as new): no more asks."""
        if clock is None or clock.done():
            return
        clock.cancel()
        await workflow.wait([clock])

    def _book(self) -> UpdatesState:
        if self.state.updates is None:
            self.state.updates = UpdatesState()
        return self.state.updates

    def _cadence(self, severity: str | None) -> UpdateCadencePlan | None:
        return (self.plan.updates or {}).get(severity or "")

    async def _update_clock(self) -> None:
        book = self._book()
        while True:
            last = book.records[-1] if book.records else None
            if last is not None and last.status == "due":
                await self._await_post(last)
                continue
            cadence = self._cadence(self.state.severity)
            if cadence is None:
                book.clock_from = None  # the clock starts again at a severity with one
                await self._severity_changes(None)
                continue
            if book.clock_from is None:
                book.clock_from = workflow.now()
            due = book.clock_from + timedelta(seconds=cadence.every_s)
            if await self._severity_changes(due):
                continue  # the new severity's cadence, from the same clock
            await self._ask(cadence)

    async def _severity_changes(self, until: datetime | None) -> bool:
        """Wait until the severity changes (True) or ``until`` passes (False)."""
        seen = self.state.severity

        def changed() -> bool:
            return self.state.severity != seen

        if until is None:
            await workflow.wait_condition(changed)
            return True
        left = (until - workflow.now()).total_seconds()
        if left <= 0:
            return False
        try:
            await workflow.wait_condition(changed, timeout=timedelta(seconds=left))
        except TimeoutError:
            return False
        return True

    async def _ask(self, cadence: UpdateCadencePlan) -> None:
        """Ask the cadence's role for the next update, on the escalation channel (at the desk
        on shift for it, when the cadence follows the sun)."""
        turn = None
        if cadence.follow_the_sun and workflow.patched(UPDATES_FOLLOW_THE_SUN_PATCH):
            turn = await self._desk_on_shift(cadence.asked)
        book = self._book()
        now = workflow.now()
        record = StakeholderUpdate(
            number=len(book.records) + 1,
            severity=self.state.severity or "",
            asked=cadence.asked,
            asked_at=now,
            desk=turn.desk if turn is not None else None,
        )
        book.records.append(record)
        book.clock_from = now
        grace = _minutes(cadence.escalate_after_s)
        detail = f"update {record.number} ({record.severity}) asked of {cadence.asked}"
        if turn is not None:
            detail += f" on the {turn.desk} desk ({turn.reason})"
        self.log("system", UPDATE_DUE, None, f"{detail}: post it within {grace}")
        text = (
            f"Incident {self.state.incident_id} ({self.state.sop}, {record.severity}): "
            f"stakeholder update {record.number} is due. Post it within {grace} "
            f"(sopflow incident update {self.state.incident_id} --text ...)."
        )
        await self._notify_update(
            record, "due", ESCALATION_CHANNEL, cadence.asked, True, text, desk=record.desk
        )

    async def _desk_on_shift(self, asked: str) -> DeskTurn:
        """The desk with someone on call for ``asked`` now (the incident's own while it has),
        as the Rota says; the answer is in the history."""
        request = DeskTurnRequest(
            incident_id=self.state.incident_id,
            step=UPDATES_STEP,
            roles=[asked],
            every=True,
            holder=self.state.region,
            at=workflow.now(),
        )
        turn: DeskTurn = await self._ask_rota(ACT_DESK_TURN, request, DeskTurn)
        return turn

    async def _await_post(self, record: StakeholderUpdate) -> None:
        """Wait out the grace of an asked update; missed and escalated when it runs out."""
        cadence = self._cadence(record.severity) or self._cadence(self.state.severity)
        grace_s = cadence.escalate_after_s if cadence else 0
        deadline = record.asked_at + timedelta(seconds=grace_s)
        left = (deadline - workflow.now()).total_seconds()
        if left > 0:
            # Posted in time, or not: the record's status says which.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: record.status != "due", timeout=timedelta(seconds=left)
                )
        if record.status == "due":
            await self._miss(record, cadence)

    async def _miss(self, record: StakeholderUpdate, cadence: UpdateCadencePlan | None) -> None:
        """Record a missed update and page its escalation role (once per missed update)."""
        record.status = "missed"
        book = self._book()
        in_a_row = 0
        for earlier in reversed(book.records):
            if earlier.status != "missed":
                break
            in_a_row += 1
        chain = cadence.escalate if cadence and cadence.escalate else [record.asked]
        role = escalation_role(chain, in_a_row)
        record.escalated_to = role
        grace = _minutes(cadence.escalate_after_s) if cadence else "its grace"
        detail = f"update {record.number} not posted within {grace}: escalated to {role}"
        self.log("system", UPDATE_MISSED, None, detail)
        text = (
            f"Incident {self.state.incident_id} ({self.state.sop}, {record.severity}): "
            f"stakeholder update {record.number}, asked of {record.asked}, was not posted "
            f"within {grace}. Make sure stakeholders hear from the incident."
        )
        await self._notify_update(
            record, "missed", ESCALATION_CHANNEL, role, True, text, desk=record.desk
        )

    # --- posting (the `post_update` action)

    def open_update(self) -> StakeholderUpdate | None:
        """The update that may be posted now: the last one asked, unless already posted."""
        book = self.state.updates
        if book is None or not book.records or book.records[-1].status == "posted":
            return None
        return book.records[-1]

    def check_update(self, req: PostUpdate) -> None:
        """Refuse (conductor.ActionRefused) an update from someone without the asked role on
        the desk it was asked of (this incident's, unless its cadence follows the sun), one
        nobody asked for, or one whose text is empty or too long."""
        if self.state.status != "running":
            raise conductor.ActionRefused(f"the incident is {self.state.status}")
        record = self.open_update()
        cadence = self._cadence(self.state.severity) or next(
            iter((self.plan.updates or {}).values()), None
        )
        if record is None and cadence is None:
            raise conductor.ActionRefused("this incident's SOP declares no stakeholder updates")
        asked = record.asked if record is not None else cadence.asked if cadence else ""
        desk = record.desk if record is not None else None
        here = conductor.check_desk(
            self.state, req.actor, [asked], self.plan.global_roles, desk=desk, what="this update"
        )
        if asked not in here.roles:
            raise conductor.ActionRefused(
                f"{req.actor.id} does not hold role {asked!r}, which is asked for this "
                "incident's stakeholder updates",
                "forbidden",
            )
        if record is None:
            raise conductor.ActionRefused("no stakeholder update is due on this incident")
        _check_text(req.text)

    async def post_update(self, req: PostUpdate) -> ActionResult:
        """Record the update and send it to the stakeholders (once per update number)."""
        record = self.open_update()
        if record is None:  # a second post of the same update, accepted in the same moment
            return ActionResult(detail="already posted")
        late = record.status == "missed"
        text = req.text.strip()
        record.status, record.posted_at = "posted", workflow.now()
        record.posted_by, record.text = req.actor.id, text
        when = " (late)" if late else ""
        self.log(req.actor.id, UPDATE_POSTED, None, f"update {record.number}{when}: {text}")
        cadence = self._cadence(record.severity) or self._cadence(self.state.severity)
        if cadence is not None:
            message = self._render_update(cadence.template, record)
            to = cadence.destination.address if cadence.destination else cadence.to_role or ""
            await self._notify_update(
                record,
                "posted",
                cadence.channel,
                to,
                cadence.destination is None,
                message,
                destination=cadence.destination,
            )
        return ActionResult(detail=f"update {record.number} posted")

    def _render_update(self, template: str, record: StakeholderUpdate) -> str:
        fields = {
            "number": record.number,
            "text": record.text or "",
            "severity": record.severity,
            "by": record.posted_by or "",
        }
        variables = {**self.variables(), UPDATE_VARIABLE: fields}
        try:
            return conductor.render(UPDATES_STEP, template, variables)
        except conductor.ExpressionFailed:
            # The incident's data did not fit the SOP's template (a missing optional field):
            # the stakeholders still get the update, in the default words.
            return conductor.render(UPDATES_STEP, DEFAULT_UPDATE_TEMPLATE, variables)

    async def _notify_update(
        self,
        record: StakeholderUpdate,
        purpose: str,
        channel: str,
        to: str,
        is_role: bool,
        message: str,
        *,
        destination: DestinationPlan | None = None,
        desk: str | None = None,
    ) -> NotifyResult:
        """One notification about update ``record``: its key is the same on every retry
        and names the update and its purpose, so each is delivered at most once. A role is
        resolved at ``desk`` (default: the incident's region)."""
        key = f"{self.state.incident_id}/{UPDATES_STEP}/{record.number}/{purpose}"
        request = self._notify_request(
            UPDATES_STEP, key, channel, to, is_role, message, desk, destination
        )
        # On the timeline under no step: an update belongs to the incident.
        return await self._deliver(request, None, note=f" (update {record.number})")


def _check_text(text: str) -> None:
    stripped = text.strip()
    if not stripped:
        raise conductor.ActionRefused(
            "the update is empty: write what stakeholders need to know", "invalid"
        )
    if len(stripped) > MAX_UPDATE_CHARS:
        raise conductor.ActionRefused(
            f"the update is {len(stripped)} characters long; at most {MAX_UPDATE_CHARS}",
            "invalid",
        )


def _minutes(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 3600 else f"{seconds // 3600}h"
