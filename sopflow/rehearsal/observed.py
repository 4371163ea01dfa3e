"""What a rehearsal observed: the incident's final state and what happened on the way (the
actions as played, notifications, escalations, linked incidents, how it opened, its
post-mortem review), with the views of it that expectations compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sopflow.contract.messages import IncidentState, NotifyRequest
from sopflow.rehearsal.opening import Opening
from sopflow.rehearsal.reviews import ReviewSeen
from sopflow.rehearsal.updates import UpdateSeen, updates_seen


@dataclass(frozen=True, slots=True)
class PlayedAction:
    """One action as played: when (simulated time since the start), and the engine's
    refusal reason when it refused."""

    index: int
    label: str
    at: timedelta
    refused: str | None = None


@dataclass
class Observed:
    """What the incident did in one rehearsal."""

    state: IncidentState
    actions: list[PlayedAction]
    elapsed: timedelta  # simulated time from the start to the observation
    wall_s: float
    waiting: list[str] = field(default_factory=list)  # "step (role)" still waiting at the end
    notifications: int = 0
    escalations: list[str] = field(default_factory=list)  # "step -> role"
    # The incidents `open_incident` steps opened, by the step, as they were at the end.
    linked: dict[str, IncidentState] = field(default_factory=dict)
    # How it opened (started, refused, attached to the open incident it duplicates).
    opening: Opening | None = None
    # Every message the incident sent, in order (escalations are on their own channel).
    sent: list[NotifyRequest] = field(default_factory=list)
    # Its post-mortem review as the story left it (None: no postmortem step started one).
    review: ReviewSeen | None = None

    @property
    def disclosures(self) -> list[str]:
        """Each disclosure decision, as ``at step: decision (policy: legal basis or reason)``."""
        return [
            f"at {e.step}: {e.kind.removeprefix('disclosure.')} ({e.detail})"
            for e in self.state.timeline
            if e.kind.startswith("disclosure.") and e.step
        ]

    @property
    def start(self) -> str:
        return "started" if self.opening is None else self.opening.how

    @property
    def path(self) -> list[str]:
        return list(self.state.path)

    @property
    def outcome(self) -> str:
        """The end step's outcome, a failure (``step_failed:<step>``...), ``cancelled``,
        ``running`` when the incident had not closed, or ``refused`` when it never opened."""
        if self.start == "refused":
            return "refused"
        if self.state.status == "running":
            return "running"
        return self.state.outcome or self.state.status

    @property
    def failure(self) -> str | None:
        """Why the incident failed (the step and the engine's reason), when it did."""
        for entry in reversed(self.state.timeline):
            if entry.kind == "incident.failed":
                return f"at {entry.step}: {entry.detail}" if entry.step else entry.detail
        return None

    @property
    def breached(self) -> list[str]:
        seen: list[str] = []
        for entry in self.state.timeline:
            if entry.kind == "sla.breached" and entry.step and entry.step not in seen:
                seen.append(entry.step)
        return seen

    @property
    def handoffs(self) -> list[str]:
        """Every hand-off, in order of time, as ``step: FROM -> TO``. Hand-offs at the same
        instant (parallel branches moving at a shift's end) come in the order of their text:
        the workflow records them in whichever order its branches ran."""
        timed = [
            (e.at, f"{e.step}: {e.detail.split(' ', 3)[0]} -> {e.detail.split(' ', 3)[2]}")
            for e in self.state.timeline
            if e.kind == "step.handed_off" and e.step
        ]
        return [text for _, text in sorted(timed)]

    @property
    def breached_at(self) -> dict[str, datetime]:
        """When each step's SLA first ran out."""
        first: dict[str, datetime] = {}
        for entry in self.state.timeline:
            if entry.kind == "sla.breached" and entry.step:
                first.setdefault(entry.step, entry.at)
        return first

    @property
    def updates(self) -> list[UpdateSeen]:
        """Each stakeholder update the incident asked for, in order, with its miss's pages."""
        return updates_seen(self.state, self.sent)

    @property
    def refused(self) -> list[PlayedAction]:
        return [a for a in self.actions if a.refused is not None]
