"""The incident's search attributes, kept current by the workflow: what visibility (lists,
inboxes, the console's live updates) knows of a running incident without asking it.

They are written once per wait, not once per step, and only the keys that changed.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import sopflow.contract.search as search
    import workflows.conductor as conductor
    from sopflow.contract.messages import IncidentState
    from sopflow.contract.plan import PlanStep

# Adds ``StepsDue`` and ``ChangedAt`` to the upserts, and an upsert when a step that waited
# on people or an event ends (docs/versioning.md, section 3).
VISIBLE_DUE_TIMES = "visible-due-times"


class SearchAttributes:
    """Upserts the workflow's keys (``search.WORKFLOW_KEYS``) when their values change."""

    def __init__(self, steps: dict[str, PlanStep], state: IncidentState) -> None:
        self.steps, self.state = steps, state
        self.last: dict[str, object] = {}
        # Only incidents with hand-offs keep `Desk` (the others' commands stay as they were).
        self.keeps_desk = any(getattr(s, "follow_the_sun", None) for s in steps.values())
        # Likewise `Exposures`, for incidents whose SOP marks a step graphic.
        self.keeps_exposures = any(getattr(s, "graphic", None) for s in steps.values())

    def flush(self, *, final: bool = False) -> None:
        """Upsert what changed since the last flush (the outcome too when ``final``)."""
        waiting = self._waiting()
        current = self._current(waiting, final=final)
        # Due times and the time of the change: a new key in upserts that exist, and one
        # more upsert when an escalation moves a deadline, so patched: histories recorded
        # before it replay without them.
        visible_due = self.keeps_due_times()
        if visible_due:
            current[search.STEPS_DUE.name] = self._steps_due(waiting)
        if not self.last:
            self.last = _known_attributes()
        changes = search.updates(current, self.last)
        if changes:
            if visible_due:
                changes.append(search.CHANGED_AT.value_set(workflow.now()))
            workflow.upsert_search_attributes(changes)
            self.last.update(current)

    def keeps_due_times(self) -> bool:
        """Whether this run takes the path of the patch ``visible-due-times``: due times and
        the time of the change in every upsert, and an upsert as a waited-on step ends."""
        return workflow.patched(VISIBLE_DUE_TIMES)

    def _waiting(self) -> list[str]:
        """Active steps waiting on people or events (automated ones pass too fast)."""
        return [
            sid
            for sid, s in self.state.steps.items()
            if s.status == "active" and conductor.waits_on_someone(self.steps[sid])
        ]

    def _current(self, waiting: list[str], *, final: bool) -> dict[str, object]:
        state = self.state
        current: dict[str, object] = {
            search.SOP_ID.name: state.sop,
            search.SOP_VERSION.name: state.version,
            search.REGION.name: state.region,
            search.ACTIVE_STEPS.name: waiting,
            search.PENDING_ROLES.name: conductor.pending_roles(self.steps, state),
            search.SLA_BREACHED.name: state.sla_breached,
        }
        if state.severity:
            current[search.SEVERITY.name] = state.severity
        if self.keeps_desk:
            current[search.DESK.name] = self._desk(waiting)
        if self.keeps_exposures:
            seen = ((e.person, e.at) for e in state.exposures)
            current[search.EXPOSURES.name] = search.exposures_text(seen)
        stalled = " ".join(sid for sid in waiting if state.steps[sid].stalled)
        if stalled or self.last.get(search.STALLED.name):
            current[search.STALLED.name] = stalled
        if final and state.outcome:
            current[search.OUTCOME.name] = state.outcome
        return current

    def _desk(self, waiting: list[str]) -> str:
        """The desk of the soonest-due waiting step that a desk holds; else the region's."""
        held = [
            (s.due_at or s.started_at, s.desk or self.state.region)
            for sid in waiting
            if (s := self.state.steps[sid]).desk or s.due_at
        ]
        dated = sorted((at, desk) for at, desk in held if at is not None)
        return dated[0][1] if dated else self.state.region

    def _steps_due(self, waiting: list[str]) -> str:
        return search.steps_due_text(
            (sid, due) for sid in waiting if (due := self.state.steps[sid].due_at)
        )


def _known_attributes() -> dict[str, object]:
    """The values the run started with (set at start, or carried over by continue-as-new)."""
    typed = workflow.info().typed_search_attributes
    known: dict[str, object] = {}
    for key in search.WORKFLOW_KEYS:
        value = typed.get(key)
        if value is not None:
            known[key.name] = value
    return known
